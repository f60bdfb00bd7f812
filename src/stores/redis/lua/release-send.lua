-- As the memory store's releaseSend (nothing to decide: it undoes a reservation). Undo a reserved
-- send whose SMS did not go out (or whose reserve's answer was lost): it stops counting in every limit
-- group and its pending code is dropped (the current code was never touched).
-- Audits code.send_failed (notice.send_failed: a notice has no code to drop).
-- KEYS[1] code hash, KEYS[2..g+1] the send logs of its limit groups, [last KEY audit]
-- ARGV after the prelude's: kind (code or notice), send id, group count g, then field/value pairs for
-- the audit entry.
local now = now_ms()
local kind = ARGV[ARG0 + 1]
local send_id = ARGV[ARG0 + 2]
local groups = tonumber(ARGV[ARG0 + 3])
for g = 1, groups do redis.call('ZREM', KEYS[1 + g], send_id) end
if kind == 'code' then
  live_code(KEYS[1], now)
  redis.call('HDEL', KEYS[1], 'p:' .. send_id)
  -- No current code and no other pending one: the record goes (the memory store drops it too).
  if redis.call('HEXISTS', KEYS[1], 'h') == 0 and redis.call('HLEN', KEYS[1]) <= 1 then redis.call('DEL', KEYS[1]) end
end

local extra = { 'event', kind .. '.send_failed' }
for i = ARG0 + 4, #ARGV do extra[#extra + 1] = ARGV[i] end
audit(now, extra)
return reply({1})
