-- Undo a reserved send whose SMS did not go out: it stops counting, and if its
-- code is still the current one the previous code becomes current again.
-- KEYS[1] code hash, KEYS[2] send log. ARGV[1] send id, ARGV[2] record keep ms.
local send_id = ARGV[1]
redis.call('ZREM', KEYS[2], send_id)

local c = redis.call('HMGET', KEYS[1], 'id', 'ph', 'pid', 'psent', 'pexp', 'pused', 'patt')
if c[1] == send_id then
  redis.call('DEL', KEYS[1])
  if c[2] then
    local time = redis.call('TIME')
    local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
    local remaining = tonumber(c[4]) + tonumber(ARGV[2]) - now
    if remaining > 0 then
      redis.call('HSET', KEYS[1], 'h', c[2], 'id', c[3], 'sent', c[4], 'exp', c[5], 'used', c[6], 'att', c[7])
      redis.call('PEXPIRE', KEYS[1], remaining)
    end
  end
elseif c[3] == send_id then
  -- A newer send replaced ours meanwhile; ours must never come back as "previous".
  redis.call('HDEL', KEYS[1], 'ph', 'pid', 'psent', 'pexp', 'pused', 'patt')
end
return 1
