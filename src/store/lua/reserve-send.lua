-- Reserve one send of a (channel, phone) if every sliding window allows it, and
-- keep its code as pending (field `p:<send id>`) until commit-send promotes it;
-- the current code stays valid while the SMS is in flight.
-- A refusal is audited here (code.rate_limited).
-- KEYS[1] code hash, KEYS[2] send log (sorted set, score = Redis time in ms), [KEYS[3] audit]
-- ARGV after the prelude's: send id, code HMAC, code TTL ms, record keep ms,
-- longest window ms, window count n, then n triples (count, window ms, label)
-- Returns {1, now, expiresAt} or {0, first refusing window index, retry-after ms}.
local now = now_ms()
local send_id = ARGV[ARG0 + 1]
local code_hash = ARGV[ARG0 + 2]
local ttl = tonumber(ARGV[ARG0 + 3])
local keep = tonumber(ARGV[ARG0 + 4])
local longest = tonumber(ARGV[ARG0 + 5])
local n = tonumber(ARGV[ARG0 + 6])

redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - longest)

local refused = -1
local retry = 0
for i = 1, n do
  local base = ARG0 + 6 + 3 * (i - 1)
  local limit = tonumber(ARGV[base + 1])
  local window = tonumber(ARGV[base + 2])
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
if refused >= 0 then
  audit(now, { 'event', 'code.rate_limited', 'reason', ARGV[ARG0 + 6 + 3 * refused + 3] })
  return {0, refused, retry}
end

redis.call('ZADD', KEYS[2], now, send_id)
redis.call('PEXPIRE', KEYS[2], longest)
redis.call('HSET', KEYS[1], 'p:' .. send_id, code_hash .. ' ' .. now .. ' ' .. (now + ttl))
if redis.call('PTTL', KEYS[1]) < keep then redis.call('PEXPIRE', KEYS[1], keep) end
return {1, now, now + ttl}
