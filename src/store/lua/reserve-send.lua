-- Reserve one send of a (channel, phone) if every sliding window allows it,
-- and make the new code current (the previous one is kept for release-send).
-- KEYS[1] code hash, KEYS[2] send log (sorted set, score = Redis time in ms)
-- ARGV[1] send id, ARGV[2] code HMAC, ARGV[3] code TTL ms, ARGV[4] record keep ms,
-- ARGV[5] longest window ms, ARGV[6] window count n, then n pairs (count, window ms)
-- Returns {1, now, expiresAt} or {0, first refusing window index, retry-after ms}.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local send_id = ARGV[1]
local ttl = tonumber(ARGV[3])
local keep = tonumber(ARGV[4])
local longest = tonumber(ARGV[5])
local n = tonumber(ARGV[6])

redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - longest)

local refused = -1
local retry = 0
for i = 1, n do
  local limit = tonumber(ARGV[5 + 2 * i])
  local window = tonumber(ARGV[6 + 2 * i])
  local since = '(' .. (now - window)
  local used = redis.call('ZCOUNT', KEYS[2], since, '+inf')
  if used >= limit then
    if refused < 0 then refused = i - 1 end
    -- The slot frees when the send that keeps the window full leaves it.
    local blocker = redis.call('ZRANGEBYSCORE', KEYS[2], since, '+inf', 'WITHSCORES', 'LIMIT', used - limit, 1)
    local frees = tonumber(blocker[2]) + window - now
    if frees > retry then retry = frees end
  end
end
if refused >= 0 then return {0, refused, retry} end

redis.call('ZADD', KEYS[2], now, send_id)
redis.call('PEXPIRE', KEYS[2], longest)

local prev = redis.call('HMGET', KEYS[1], 'h', 'id', 'sent', 'exp', 'used', 'att')
redis.call('DEL', KEYS[1])
if prev[1] then
  redis.call('HSET', KEYS[1], 'h', ARGV[2], 'id', send_id, 'sent', now, 'exp', now + ttl, 'used', 0, 'att', 0,
    'ph', prev[1], 'pid', prev[2], 'psent', prev[3], 'pexp', prev[4], 'pused', prev[5], 'patt', prev[6])
else
  redis.call('HSET', KEYS[1], 'h', ARGV[2], 'id', send_id, 'sent', now, 'exp', now + ttl, 'used', 0, 'att', 0)
end
redis.call('PEXPIRE', KEYS[1], keep)
return {1, now, now + ttl}
