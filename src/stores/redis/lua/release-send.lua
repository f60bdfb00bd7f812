-- As the memory store's releaseSend (nothing to decide: it undoes a reservation). Undo a reserved
-- send whose SMS did not go out (or whose reserve's answer was lost): it stops counting in every limit
-- group and (a code send) its pending code is dropped (the current code was never touched) and its
-- verification, if it was reserved, reads failed.
-- Audits code.send_failed (notice.send_failed: a notice has no code to drop).
-- KEYS[1] code hash, KEYS[2] verification records, KEYS[3..g+2] the send logs of its limit groups, [last KEY audit]
-- ARGV after the prelude's: kind (code or notice), send id, retention ms, group count g, then
-- field/value pairs for the audit entry.
local now = now_ms()
local kind = ARGV[ARG0 + 1]
local send_id = ARGV[ARG0 + 2]
local retention = tonumber(ARGV[ARG0 + 3])
local groups = tonumber(ARGV[ARG0 + 4])
for g = 1, groups do redis.call('ZREM', KEYS[2 + g], send_id) end
if kind == 'code' then
  live_code(KEYS[1], now)
  redis.call('HDEL', KEYS[1], 'p:' .. send_id)
  -- No current code and no other pending one: the record goes (the memory store drops it too).
  if redis.call('HEXISTS', KEYS[1], 'h') == 0 and redis.call('HLEN', KEYS[1]) <= 1 then redis.call('DEL', KEYS[1]) end
  local rec = ver_get(KEYS[2], send_id, now, retention)
  if rec and rec.s == 'reserved' then
    rec.s = 'failed'
    ver_put(KEYS[2], send_id, rec, now, retention)
  end
end

local extra = { 'event', kind .. '.send_failed' }
for i = ARG0 + 5, #ARGV do extra[#extra + 1] = ARGV[i] end
audit(now, extra)
return reply({1})
