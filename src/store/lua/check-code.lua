-- Check a code of a (channel, phone); approve it at most once. Audits the outcome.
-- KEYS[1] code hash, [KEYS[2] audit]
-- ARGV after the prelude's: HMAC of the code given, max wrong attempts.
-- Returns {status, attempts remaining}.
local now = now_ms()
local given = ARGV[ARG0 + 1]
local max = tonumber(ARGV[ARG0 + 2])
local c = redis.call('HMGET', KEYS[1], 'h', 'exp', 'used', 'att', 'id')

local function decide(status, remaining, attempt)
  local extra
  if status == 'approved' then
    extra = { 'event', 'code.approved' }
  else
    extra = { 'event', 'code.rejected', 'reason', status }
  end
  if attempt then
    extra[#extra + 1] = 'attempt'
    extra[#extra + 1] = tostring(attempt)
  end
  if c[5] then
    extra[#extra + 1] = 'outId'
    extra[#extra + 1] = c[5]
  end
  audit(now, extra)
  return {status, remaining}
end

if not c[1] then return decide('not_found', 0) end
local attempts = tonumber(c[4])
if now >= tonumber(c[2]) then return decide('expired', 0) end
if c[3] == '1' then return decide('used', 0) end
if attempts >= max then return decide('too_many_attempts', 0) end
if c[1] == given then
  redis.call('HSET', KEYS[1], 'used', 1)
  return decide('approved', max - attempts, attempts + 1)
end
attempts = redis.call('HINCRBY', KEYS[1], 'att', 1)
return decide('mismatch', max - attempts, attempts)
