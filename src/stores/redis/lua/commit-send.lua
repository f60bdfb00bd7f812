-- rules.ts commitOutcome, isSuperseded. The provider accepted the SMS (or its outcome is unknown: it
-- may have left): its pending code becomes the current one (unless a newer send's code already is, or
-- its verification was canceled in flight), the verification it replaces becomes superseded if it was
-- live, its own reads sent or unconfirmed, and the event named (code.sent, code.send_unconfirmed) is
-- audited; a delivery report that came before is applied now. A notice has no code: it only audits
-- its event.
-- KEYS[1] code hash, KEYS[2] verification records, KEYS[3] idempotent check decisions, KEYS[4] the
-- (channel, phone) send log, KEYS[5] the phone's send log, [KEYS[6] audit]
-- ARGV after the prelude's: kind (code or notice), event name, send id, record keep ms, retention ms,
-- outcome (sent | unconfirmed), then field/value pairs for the audit entry.
-- Returns 1 promoted, 0 superseded (a newer code is current, or canceled), 2 already committed (a retry
-- whose first try had landed: nothing is written again), -1 lost (the pending code is gone, e.g. a
-- Redis restart without persistence: audited as code.sent with reason unconfirmed).
local now = now_ms()
local kind = ARGV[ARG0 + 1]
local extra = { 'event', ARGV[ARG0 + 2] }
local send_id = ARGV[ARG0 + 3]
local keep = tonumber(ARGV[ARG0 + 4])
local retention = tonumber(ARGV[ARG0 + 5])
local outcome = ARGV[ARG0 + 6]
for i = ARG0 + 7, #ARGV do extra[#extra + 1] = ARGV[i] end
if kind == 'notice' then
  audit(now, extra)
  return reply({1})
end
local field = 'p:' .. send_id
live_code(KEYS[1], now)
local pending = redis.call('HGET', KEYS[1], field)
local rec = ver_get(KEYS[2], send_id, now, retention)
local result = -1
if pending then
  local hash, sent, exp = string.match(pending, '^(%S+) (%d+) (%d+)$')
  local current_sent = tonumber(redis.call('HGET', KEYS[1], 'sent') or '-1')
  redis.call('HDEL', KEYS[1], field)
  result = 0
  if not (rec and rec.s == 'canceled') and tonumber(sent) >= current_sent then
    local previous_id = redis.call('HGET', KEYS[1], 'id')
    local previous = previous_id and ver_get(KEYS[2], previous_id, now, retention)
    if previous then
      local status = ver_status(previous, now)
      if status == 'pending' or status == 'unconfirmed' then
        previous.s = 'superseded'
        ver_put(KEYS[2], previous_id, previous, now, retention)
      end
    end
    redis.call('HSET', KEYS[1], 'h', hash, 'id', send_id, 'sent', sent, 'exp', exp, 'used', 0, 'att', 0)
    redis.call('HDEL', KEYS[1], 'cx')
    redis.call('DEL', KEYS[3])
    result = 1
  end
  keep_code(KEYS[1], tonumber(sent) + keep, now)
elseif redis.call('HGET', KEYS[1], 'id') == send_id then
  return reply({2})
end
if rec and rec.s == 'reserved' then
  rec.s = outcome
  ver_put(KEYS[2], send_id, rec, now, retention)
end

if result < 0 then
  extra[#extra + 1] = 'reason'
  extra[#extra + 1] = 'unconfirmed'
end
audit(now, extra)
if rec and rec.rp == 1 then
  rec.rp = 0
  ver_put(KEYS[2], send_id, rec, now, retention)
  apply_receipt(KEYS[1], KEYS[4], KEYS[5], send_id, rec, now)
end
return reply({result})
