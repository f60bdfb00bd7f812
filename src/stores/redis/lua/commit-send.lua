-- rules.ts commitOutcome, isSuperseded. Commits one or more sends (the commits of one event-loop tick
-- on one node, in the order they were asked; each exactly as if it ran alone, one after the other).
-- The provider accepted each SMS (or its outcome is unknown: it may have left): its pending code
-- becomes the current one (unless a newer send's code already is, or its verification was canceled
-- in flight), the verification it replaces becomes superseded if it was live, its own reads sent or
-- unconfirmed, and the event named (code.sent, code.send_unconfirmed) is audited; a delivery report
-- that came before is applied now. A notice has no code: it only audits its event.
-- KEYS per send, 5 each: code hash, verification records, idempotent check decisions, the (channel,
-- phone) send log, the phone's send log; [last KEY audit]
-- ARGV after the prelude's (whose deadline is '': each send has its own): send count, then per send:
-- its deadline in Redis server time ('' none), its own audit context (count m, then m field/value
-- pairs, written after the call's), kind (code or notice), event name, send id, record keep ms,
-- retention ms, outcome (sent | unconfirmed), count e, then e field/value items for the audit entry.
-- Returns one result per send: 1 promoted, 0 superseded (a newer code is current, or canceled),
-- 2 already committed (a retry whose first try had landed: nothing is written again), -1 lost (the
-- pending code is gone, e.g. a Redis restart without persistence: audited with reason unconfirmed),
-- -9 late (past its deadline: nothing done, as prelude.lua's LATE for a whole script), -8 failed (a
-- Redis error while committing it, caught so that the other sends of the call are still decided).
local function commit_one(k, a, now)
  local kind = ARGV[a + 1]
  local extra = { 'event', ARGV[a + 2] }
  local send_id = ARGV[a + 3]
  local keep = tonumber(ARGV[a + 4])
  local retention = tonumber(ARGV[a + 5])
  local outcome = ARGV[a + 6]
  local e = tonumber(ARGV[a + 7])
  for i = a + 8, a + 7 + e do extra[#extra + 1] = ARGV[i] end
  if kind == 'notice' then
    audit(now, extra)
    return 1
  end
  local code_key, ver_key = KEYS[k + 1], KEYS[k + 2]
  local field = 'p:' .. send_id
  -- The pending code, and the current code's send time and id, in one read.
  local code = read_code(code_key, now, field, 'sent', 'id')
  local pending, current_id = code[1], code[3]
  local rec = ver_get(ver_key, send_id, now, retention)
  local result = -1
  if pending then
    local hash, sent, exp = string.match(pending, '^(%S+) (%d+) (%d+)$')
    local current_sent = tonumber(code[2] or '-1')
    result = 0
    if not (rec and rec.s == 'canceled') and tonumber(sent) >= current_sent then
      local previous = current_id and ver_get(ver_key, current_id, now, retention)
      if previous then
        local status = ver_status(previous, now)
        if status == 'pending' or status == 'unconfirmed' then
          previous.s = 'superseded'
          ver_put(ver_key, current_id, previous, now, retention)
        end
      end
      redis.call('HSET', code_key, 'h', hash, 'id', send_id, 'sent', sent, 'exp', exp, 'used', 0, 'att', 0)
      redis.call('HDEL', code_key, field, 'cx')
      redis.call('DEL', KEYS[k + 3])
      result = 1
    else
      redis.call('HDEL', code_key, field)
    end
    keep_code(code_key, tonumber(sent) + keep, now)
  elseif current_id == send_id then
    return 2
  end
  if rec and rec.s == 'reserved' then
    rec.s = outcome
    ver_put(ver_key, send_id, rec, now, retention)
  end

  if result < 0 then
    extra[#extra + 1] = 'reason'
    extra[#extra + 1] = 'unconfirmed'
  end
  audit(now, extra)
  if rec and rec.rp == 1 then
    rec.rp = 0
    ver_put(ver_key, send_id, rec, now, retention)
    apply_receipt(code_key, KEYS[k + 4], KEYS[k + 5], send_id, rec, now)
  end
  return result
end

local now = now_ms()
local count = tonumber(ARGV[ARG0 + 1])
local results = {}
local a = ARG0 + 1
for i = 1, count do
  local deadline = ARGV[a + 1]
  local m = tonumber(ARGV[a + 2])
  local context_to = a + 2 + 2 * m
  -- Deadlines on the server's own clock, never the test clock (as the prelude's).
  if deadline ~= '' and server_ms() > tonumber(deadline) then
    results[i] = -9
  else
    set_item_context(a + 3, context_to)
    local ok, result = pcall(commit_one, 5 * (i - 1), context_to, now)
    if ok then results[i] = result else results[i] = -8 end
  end
  a = context_to + 7 + tonumber(ARGV[context_to + 7])
end
return reply(results)
