-- Undo a reserved send whose SMS did not go out: it stops counting, and if its
-- code is still the current one the previous code becomes current again.
-- Audits code.send_failed with the provider's reason.
-- KEYS[1] code hash, KEYS[2] send log, [KEYS[3] audit]
-- ARGV after the prelude's: send id, record keep ms, then field/value pairs for the audit entry.
local now = now_ms()
local send_id = ARGV[ARG0 + 1]
redis.call('ZREM', KEYS[2], send_id)

local c = redis.call('HMGET', KEYS[1], 'id', 'ph', 'pid', 'psent', 'pexp', 'pused', 'patt')
if c[1] == send_id then
  redis.call('DEL', KEYS[1])
  if c[2] then
    local remaining = tonumber(c[4]) + tonumber(ARGV[ARG0 + 2]) - now
    if remaining > 0 then
      redis.call('HSET', KEYS[1], 'h', c[2], 'id', c[3], 'sent', c[4], 'exp', c[5], 'used', c[6], 'att', c[7])
      redis.call('PEXPIRE', KEYS[1], remaining)
    end
  end
elseif c[3] == send_id then
  -- A newer send replaced ours meanwhile; ours must never come back as "previous".
  redis.call('HDEL', KEYS[1], 'ph', 'pid', 'psent', 'pexp', 'pused', 'patt')
end

local extra = { 'event', 'code.send_failed' }
for i = ARG0 + 3, #ARGV do extra[#extra + 1] = ARGV[i] end
audit(now, extra)
return 1
