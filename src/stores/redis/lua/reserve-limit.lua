-- windows.ts judgeWindows. Redis Cluster only: reserve one send in a limit whose send log lives in another slot
-- than the phone's (per IP, global), all its windows or nothing.
-- KEYS[1] the send log. ARGV after the prelude's: send id, window count n, then n triples
-- (count, window ms, label). Returns {1} or {0, refusing window index, retry-after ms}.
local now = now_ms()
local send_id = ARGV[ARG0 + 1]
local refused, _, retry, longest = check_windows(KEYS[1], now, ARG0 + 1)
if refused >= 0 then return reply({0, refused, retry}) end
redis.call('ZADD', KEYS[1], now, send_id)
redis.call('PEXPIRE', KEYS[1], longest)
return reply({1})
