-- rules.ts commitOutcome. The provider accepted the SMS (or its outcome is unknown: it may have left):
-- its pending code becomes the current one (unless a newer send's code already is), and the event
-- named (code.sent, code.send_unconfirmed) is audited. A notice has no code: it only audits its event.
-- KEYS[1] code hash, [KEYS[2] audit]
-- ARGV after the prelude's: kind (code or notice), event name, send id, record keep ms, then
-- field/value pairs for the audit entry.
-- Returns 1 promoted, 0 superseded (a newer code is current), 2 already committed (a retry whose
-- first try had landed: nothing is written again), -1 lost (the pending code is gone, e.g. a Redis
-- restart without persistence: audited as code.sent with reason unconfirmed).
local now = now_ms()
local kind = ARGV[ARG0 + 1]
local extra = { 'event', ARGV[ARG0 + 2] }
local send_id = ARGV[ARG0 + 3]
local keep = tonumber(ARGV[ARG0 + 4])
for i = ARG0 + 5, #ARGV do extra[#extra + 1] = ARGV[i] end
if kind == 'notice' then
  audit(now, extra)
  return reply({1})
end
local field = 'p:' .. send_id
live_code(KEYS[1], now)
local pending = redis.call('HGET', KEYS[1], field)
local result = -1
if pending then
  local hash, sent, exp = string.match(pending, '^(%S+) (%d+) (%d+)$')
  local current_sent = tonumber(redis.call('HGET', KEYS[1], 'sent') or '-1')
  redis.call('HDEL', KEYS[1], field)
  result = 0
  if tonumber(sent) >= current_sent then
    redis.call('HSET', KEYS[1], 'h', hash, 'id', send_id, 'sent', sent, 'exp', exp, 'used', 0, 'att', 0)
    result = 1
  end
  keep_code(KEYS[1], tonumber(sent) + keep, now)
elseif redis.call('HGET', KEYS[1], 'id') == send_id then
  return reply({2})
end

if result < 0 then
  extra[#extra + 1] = 'reason'
  extra[#extra + 1] = 'unconfirmed'
end
audit(now, extra)
return reply({result})
