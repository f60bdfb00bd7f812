-- windows.ts judgeWindows. Reserve one entry in a log all its windows allow, or nothing: on Redis
-- Cluster a send's limit whose log lives in another slot than the phone's (per IP, global), or a
-- check in its IP's check log; anywhere, with `peek`, only read the verdict (RedisStore.peekSend).
-- KEYS[1] the log. ARGV after the prelude's: entry id (send or check id), peek ('1' reads only),
-- window count n, then n triples (count, window ms, label).
-- Returns {1} or {0, refusing window index, retry-after ms}.
local now = now_ms()
local send_id = ARGV[ARG0 + 1]
local peek = ARGV[ARG0 + 2] == '1'
local refused, _, retry, longest = check_windows(KEYS[1], now, ARG0 + 2)
if refused >= 0 then return reply({0, refused, retry}) end
if peek then return reply({1}) end
redis.call('ZADD', KEYS[1], now, send_id)
redis.call('PEXPIRE', KEYS[1], longest)
return reply({1})
