-- Check a code of a (channel, phone); approve it at most once.
-- KEYS[1] code hash. ARGV[1] HMAC of the code given, ARGV[2] max wrong attempts.
-- Returns {status, attempts remaining}.
local c = redis.call('HMGET', KEYS[1], 'h', 'exp', 'used', 'att')
if not c[1] then return {'not_found', 0} end

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local max = tonumber(ARGV[2])
local attempts = tonumber(c[4])

if now >= tonumber(c[2]) then return {'expired', 0} end
if c[3] == '1' then return {'used', 0} end
if attempts >= max then return {'too_many_attempts', 0} end
if c[1] == ARGV[1] then
  redis.call('HSET', KEYS[1], 'used', 1)
  return {'approved', max - attempts}
end
attempts = redis.call('HINCRBY', KEYS[1], 'att', 1)
return {'mismatch', max - attempts}
