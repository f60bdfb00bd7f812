-- rules.ts judgeCheck / checkEvent: check a code of a (channel, phone); approve it at most once. Audits the
-- outcome (a replay is not audited again). With an idempotency key, a decision that writes is recorded
-- with the code in this same step, and a repeat with that key and code gets it again.
-- KEYS[1] code hash, KEYS[2] the phone's wrong-guess log (sorted set), KEYS[3] verification records,
-- KEYS[4] idempotent check decisions (hash: key -> "status remaining hash"), [KEYS[5] the client IP's
-- check log, with IP mode 1], [last KEY audit]
-- ARGV after the prelude's: HMAC of the code given, max wrong attempts, check id, verification id or '',
-- idempotency key or '', retention ms, window count n, then n triples (count, window ms, label)
-- limiting wrong guesses per phone; then the IP check limit (IP_CHECK_LIMITS): mode '0' none; '1' its
-- log is KEYS[5] (one node, Sentinel), followed by its window count and triples; '2' decided in its own
-- slot first (Cluster, where the check was reserved there if allowed), followed by the refusing window
-- index (-1 none) and retry ms.
-- Returns {status, attempts remaining, retry-after ms, 1 if replayed else 0}.
local now = now_ms()
local given = ARGV[ARG0 + 1]
local max = tonumber(ARGV[ARG0 + 2])
local check_id = ARGV[ARG0 + 3]
local expect_id = ARGV[ARG0 + 4]
local idem = ARGV[ARG0 + 5]
local retention = tonumber(ARGV[ARG0 + 6])
local ip_at = ARG0 + 8 + 3 * tonumber(ARGV[ARG0 + 7])
local ip_mode = ARGV[ip_at]
local c = read_code(KEYS[1], now, 'h', 'exp', 'used', 'att', 'id', 'cx')

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
  return reply({status, remaining, retry or 0, 0})
end

-- What a decision that writes leaves behind: the verification's record, and the key's decision.
local function record(status, remaining, change)
  local rec = ver_get(KEYS[3], c[5], now, retention)
  if rec then
    change(rec)
    ver_put(KEYS[3], c[5], rec, now, retention)
  end
  if idem ~= '' then
    redis.call('HSET', KEYS[4], idem, status .. ' ' .. remaining .. ' ' .. given)
    -- As long as the code record (whose TTL runs out at its deadline `k`, live here).
    redis.call('PEXPIRE', KEYS[4], KEPT[KEYS[1]] - now)
  end
end

-- Checks per client IP: a refused check is not counted; every other one is, whatever its outcome.
if ip_mode == '1' then
  local full, _, retry, longest = check_windows(KEYS[5], now, ip_at)
  if full >= 0 then return decide('check_limited', 0, nil, retry) end
  redis.call('ZADD', KEYS[5], now, check_id)
  redis.call('PEXPIRE', KEYS[5], longest)
elseif ip_mode == '2' and tonumber(ARGV[ip_at + 1]) >= 0 then
  return decide('check_limited', 0, nil, tonumber(ARGV[ip_at + 2]))
end

if c[1] and idem ~= '' then
  local prior = redis.call('HGET', KEYS[4], idem)
  if prior then
    local status, remaining, hash = string.match(prior, '^(%S+) (%d+) (%S+)$')
    -- The same code again: the same decision, nothing written. Another code is a new check.
    if same_digest(hash, given) then return reply({status, tonumber(remaining), 0, 1}) end
  end
end
if not c[1] or c[6] == '1' or (expect_id ~= '' and c[5] ~= expect_id) then return decide('not_found', 0) end
local attempts = tonumber(c[4])
if now >= tonumber(c[2]) then return decide('expired', 0) end
if c[3] == '1' then return decide('used', 0) end
if attempts >= max then return decide('too_many_attempts', 0) end

-- Wrong guesses per phone across all its codes: while a window is full, no check is decided.
local full, _, retry, longest = check_windows(KEYS[2], now, ARG0 + 6)
if full >= 0 then return decide('verify_limited', max - attempts, nil, retry) end

if same_digest(c[1], given) then
  redis.call('HSET', KEYS[1], 'used', 1)
  record('approved', max - attempts, function(rec) rec.s = 'approved' end)
  return decide('approved', max - attempts, attempts + 1)
end
attempts = redis.call('HINCRBY', KEYS[1], 'att', 1)
if longest > 0 then
  redis.call('ZADD', KEYS[2], now, check_id)
  redis.call('PEXPIRE', KEYS[2], longest)
end
record('mismatch', max - attempts, function(rec) rec.a = rec.a + 1 end)
return decide('mismatch', max - attempts, attempts)
