-- rules.ts judgeCheck / checkEvent: check a code of a (channel, phone); approve it at most once. Audits the outcome.
-- KEYS[1] code hash, KEYS[2] the phone's wrong-guess log (sorted set), [last KEY audit]
-- ARGV after the prelude's: HMAC of the code given, max wrong attempts, check id,
-- window count n, then n triples (count, window ms, label) limiting wrong guesses per phone.
-- Returns {status, attempts remaining, retry-after ms}.
local now = now_ms()
local given = ARGV[ARG0 + 1]
local max = tonumber(ARGV[ARG0 + 2])
local check_id = ARGV[ARG0 + 3]
live_code(KEYS[1], now)
local c = redis.call('HMGET', KEYS[1], 'h', 'exp', 'used', 'att', 'id')

local function decide(status, remaining, attempt, retry)
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
  return reply({status, remaining, retry or 0})
end

if not c[1] then return decide('not_found', 0) end
local attempts = tonumber(c[4])
if now >= tonumber(c[2]) then return decide('expired', 0) end
if c[3] == '1' then return decide('used', 0) end
if attempts >= max then return decide('too_many_attempts', 0) end

-- Wrong guesses per phone across all its codes: while a window is full, no check is decided.
local full, _, retry, longest = check_windows(KEYS[2], now, ARG0 + 3)
if full >= 0 then return decide('verify_limited', max - attempts, nil, retry) end

if c[1] == given then
  redis.call('HSET', KEYS[1], 'used', 1)
  return decide('approved', max - attempts, attempts + 1)
end
attempts = redis.call('HINCRBY', KEYS[1], 'att', 1)
if longest > 0 then
  redis.call('ZADD', KEYS[2], now, check_id)
  redis.call('PEXPIRE', KEYS[2], longest)
end
return decide('mismatch', max - attempts, attempts)
