-- Shared by every script (prepended at load time).
-- ARGV[1] audit mode: '1' the last KEY is the audit stream and events are appended to it;
-- '2' (Redis Cluster, where the stream lives in another slot) events are returned after the
-- script's own reply for the caller to append (each as its field count, then its fields); '0' no events. ARGV[2] audit retention ms,
-- ARGV[3] audit max length (0 = none), ARGV[4] the time in ms to decide at, or '' for Redis
-- server time (production; a test store passes its own clock), ARGV[5] the request's deadline in
-- Redis server time (ms), or '' for none, ARGV[6] m, then m pairs of context
-- fields (phone, channel, ip, caller, …) written into every audit entry of this call.
-- The script's own arguments start at ARGV[ARG0 + 1].
-- The rules every script implements are src/domain/verification/rules.ts and
-- src/domain/limits/windows.ts; test/store-model.test.ts compares the scripts with them.

-- A decision the caller has given up on must never take effect later (a queue behind a slow Redis, a
-- client retry after a Cluster failover): past its deadline, read on the server's own clock (never
-- the test clock), the script writes nothing and answers an error the caller reads as "store
-- unavailable" (see ScriptRunner).
-- One TIME per script: the deadline check and now_ms read the same server time.
local SERVER_MS = nil
local function server_ms()
  if not SERVER_MS then
    local t = redis.call('TIME')
    SERVER_MS = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  return SERVER_MS
end

if ARGV[5] ~= '' and server_ms() > tonumber(ARGV[5]) then
  return redis.error_reply('LATE past the request deadline: nothing done')
end

local function now_ms()
  if ARGV[4] ~= '' then return tonumber(ARGV[4]) end
  return server_ms()
end

local AUDIT_ON = ARGV[1] == '1'
local AUDIT_DEFER = ARGV[1] == '2'
local DEFERRED = {}
local AUDIT_KEY = KEYS[#KEYS]
local AUDIT_RETENTION = tonumber(ARGV[2])
local AUDIT_MAXLEN = tonumber(ARGV[3])
local AUDIT_CONTEXT = tonumber(ARGV[6])
local ARG0 = 6 + 2 * AUDIT_CONTEXT

-- A script deciding for several requests in one call (commit-send) names the ARGV range holding the
-- context fields of the one it is deciding for now; they follow the call's own in its events.
local ITEM_CONTEXT_FROM, ITEM_CONTEXT_TO = 1, 0
local function set_item_context(from, to) ITEM_CONTEXT_FROM, ITEM_CONTEXT_TO = from, to end

-- Appends one event (context fields plus `extra`, a flat list of field, value) with Redis time,
-- trimming by age (MINID ~) and, when configured, by count (MAXLEN ~).
local function audit(now, extra)
  if AUDIT_DEFER then
    DEFERRED[#DEFERRED + 1] = #extra + (ITEM_CONTEXT_TO - ITEM_CONTEXT_FROM + 1)
    for i = 1, #extra do DEFERRED[#DEFERRED + 1] = extra[i] end
    for i = ITEM_CONTEXT_FROM, ITEM_CONTEXT_TO do DEFERRED[#DEFERRED + 1] = ARGV[i] end
    return
  end
  if not AUDIT_ON then return end
  local args = { 'XADD', AUDIT_KEY, 'MINID', '~', tostring(now - AUDIT_RETENTION), '*' }
  for i = 1, #extra do args[#args + 1] = extra[i] end
  for i = 7, ARG0 do args[#args + 1] = ARGV[i] end
  for i = ITEM_CONTEXT_FROM, ITEM_CONTEXT_TO do args[#args + 1] = ARGV[i] end
  redis.call(unpack(args))
  if AUDIT_MAXLEN > 0 then redis.call('XTRIM', AUDIT_KEY, 'MAXLEN', '~', AUDIT_MAXLEN) end
end

-- Every script returns through here: its own reply, then any deferred event's fields.
local function reply(result)
  for i = 1, #DEFERRED do result[#result + 1] = DEFERRED[i] end
  return result
end

-- A code record (hash) keeps its deadline in field `k` (rules.ts recordKeepMs): past it the record
-- is absent, whatever its key's TTL (the TTL only collects garbage; keep_code sets it with `k`, so it
-- runs out at `k`). Call read_code (or live_code) before reading the record. Only they and keep_code touch
-- `k`; what they read or wrote is remembered for the rest of the script in KEPT[key] (0: no record),
-- so keep_code reads nothing again (a script that deletes the record itself calls no keep_code after).
local KEPT = {}

-- Drops the record if it is past `k`, reading `k` with the fields named in one HMGET: their values
-- (false where absent), all false when there is no live record.
local function read_code(key, now, ...)
  local fields = { ... }
  local n = #fields
  fields[n + 1] = 'k'
  local values = redis.call('HMGET', key, unpack(fields))
  local k = values[n + 1]
  values[n + 1] = nil
  if k and tonumber(k) <= now then
    redis.call('DEL', key)
    k = nil
    for i = 1, n do values[i] = false end
  end
  KEPT[key] = tonumber(k or '0')
  return values
end

-- read_code reading no other field.
local function live_code(key, now)
  read_code(key, now)
end

-- Keeps the record at least until `deadline` (never shortens it); `fields` (optional: field, value,
-- …) are written in the same HSET.
local function keep_code(key, deadline, now, fields)
  local k = KEPT[key] or tonumber(redis.call('HGET', key, 'k') or '0')
  local longer = deadline > k and deadline > now
  local args = { 'HSET', key }
  if fields then
    for i = 1, #fields do args[#args + 1] = fields[i] end
  end
  if longer then
    args[#args + 1] = 'k'
    args[#args + 1] = deadline
  end
  if #args > 2 then redis.call(unpack(args)) end
  if longer then
    redis.call('PEXPIRE', key, deadline - now)
    k = deadline
  end
  KEPT[key] = k
end

-- digestMatches (src/domain/codes/code.ts): a code's digest is the first 22 characters of
-- its HMAC (base64url); a digest stored whole (43 characters, before digests were shortened) matches
-- the short digest it starts with, so codes sent before an upgrade still verify.
local function same_digest(stored, given)
  if stored == given then return true end
  return #given == 22 and #stored == 43 and string.sub(stored, 1, 22) == given
end

-- Sliding windows over a send log (windows.ts judgeWindows) (sorted set scored by ms). Reads the count n at ARGV[at + 1]
-- and n triples (count, window ms, label) after it; prunes entries older than the longest window.
-- Returns the first refusing window's index (0-based, -1 if none) and label, the wait until every
-- refusing window frees a slot, the longest window, the ARGV index after the last triple, and, with
-- `adding` (an entry at `now` is about to be added: rules.ts resendAt), the wait until every window
-- frees a slot once it is (0 when none would be full).
-- What it reads: nothing without windows; ZCARD alone for an empty log; else one trim, a ZCOUNT only
-- for a window (shorter than the longest) that could be full (no window counts more than the longest,
-- whose count is the log's size after the trim), and one ZRANGEBYSCORE per window that is full.
local function check_windows(key, now, at, adding)
  local n = tonumber(ARGV[at + 1])
  at = at + 1
  local longest = 0
  for i = 1, n do
    local window = tonumber(ARGV[at + 3 * (i - 1) + 2])
    if window > longest then longest = window end
  end
  local refused, label, retry, after = -1, nil, 0, 0
  if n == 0 then return refused, label, retry, longest, at, after end
  local size = redis.call('ZCARD', key)
  if size > 0 then size = size - redis.call('ZREMRANGEBYSCORE', key, '-inf', now - longest) end
  for i = 1, n do
    local limit = tonumber(ARGV[at + 1])
    local window = tonumber(ARGV[at + 2])
    if size >= limit or (adding and size + 1 >= limit) then
      local since = '(' .. (now - window)
      local used = size
      if window < longest and size > 0 then used = redis.call('ZCOUNT', key, since, '+inf') end
      if used >= limit then
        if refused < 0 then refused, label = i - 1, ARGV[at + 3] end
        -- The slot frees when the send that keeps the window full leaves it.
        local blocker = redis.call('ZRANGEBYSCORE', key, since, '+inf', 'WITHSCORES', 'LIMIT', used - limit, 1)
        local frees = tonumber(blocker[2]) + window - now
        if frees > retry then retry = frees end
      elseif adding and used + 1 >= limit then
        -- Full once the entry is added: it frees when the window's oldest entry leaves it, the
        -- added one itself if the window is empty (or holds only entries dated after `now`).
        local oldest = now
        if used > 0 then
          local first = redis.call('ZRANGEBYSCORE', key, since, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
          oldest = math.min(tonumber(first[2]), now)
        end
        local frees = oldest + window - now
        if frees > after then after = frees end
      end
    end
    at = at + 3
  end
  return refused, label, retry, longest, at, after
end

-- Verification records (rules.ts verificationStatus, receiptOutcome): one field per send id in the
-- (channel, phone)'s `:ver` hash, kept `retention` ms after `c` (read past it, a record is absent and
-- dropped). A record is the table {c created, e expires, m max attempts, a wrong guesses, s state,
-- d delivery, ec error code, rt reported at, rp 1 while a report awaits the commit}, stored as one
-- line short enough (under 64 bytes with a usual error code) for the hash to stay a listpack:
-- "<c> <e - c> <m> <a> <s><d><rp>[ <rt> <ec>]", s and d one letter each; `rt` '-' when absent, `ec`
-- last (it may hold spaces). Records stored as JSON (before this line format) are still read.
local VER_STATE = { reserved = 'r', sent = 's', unconfirmed = 'u', failed = 'f', approved = 'a', canceled = 'c', superseded = 'x' }
local VER_DELIVERY = { unknown = 'u', delivered = 'd', undelivered = 'n' }
local VER_STATE_OF = { r = 'reserved', s = 'sent', u = 'unconfirmed', f = 'failed', a = 'approved', c = 'canceled', x = 'superseded' }
local VER_DELIVERY_OF = { u = 'unknown', d = 'delivered', n = 'undelivered' }

local function ver_num(n)
  return string.format('%.17g', n)
end

local function ver_encode(rec)
  local s, d = VER_STATE[rec.s], VER_DELIVERY[rec.d]
  -- Anything the line cannot say exactly is stored as JSON.
  if not (s and d) or (rec.rp ~= nil and rec.rp ~= 0 and rec.rp ~= 1) then return cjson.encode(rec) end
  local line = ver_num(rec.c) .. ' ' .. ver_num(rec.e - rec.c) .. ' ' .. ver_num(rec.m) .. ' ' .. ver_num(rec.a) .. ' ' .. s .. d .. (rec.rp or 0)
  if rec.rt ~= nil or rec.ec ~= nil then
    line = line .. ' ' .. (rec.rt and ver_num(rec.rt) or '-') .. ' ' .. (rec.ec or '')
  end
  return line
end

local function ver_decode(raw)
  if string.sub(raw, 1, 1) == '{' then return cjson.decode(raw) end
  local c, e, m, a, s, d, rp, tail = string.match(raw, '^(%S+) (%S+) (%S+) (%S+) (%a)(%a)(%d)(.*)$')
  c = tonumber(c)
  local rec = { c = c, e = c + tonumber(e), m = tonumber(m), a = tonumber(a), s = VER_STATE_OF[s], d = VER_DELIVERY_OF[d], rp = tonumber(rp) }
  if tail ~= '' then
    local rt, ec = string.match(tail, '^ (%S+) (.*)$')
    rec.rt = tonumber(rt)
    rec.ec = ec
  end
  return rec
end

local function ver_get(key, id, now, retention)
  local raw = redis.call('HGET', key, id)
  if not raw then return nil end
  local rec = ver_decode(raw)
  if rec.c + retention <= now then
    redis.call('HDEL', key, id)
    return nil
  end
  return rec
end

-- Writes a record; the hash lives as long as its youngest record: a new one (c = now) sets the TTL
-- to the retention, which outlives every older record; an update leaves the TTL its creation set.
local function ver_put(key, id, rec, now, retention)
  redis.call('HSET', key, id, ver_encode(rec))
  if rec.c == now then redis.call('PEXPIRE', key, retention) end
end

-- rules.ts verificationStatus.
local function ver_status(rec, now)
  local s = rec.s
  if s == 'approved' or s == 'canceled' or s == 'superseded' or s == 'failed' then return s end
  if now >= rec.e then return 'expired' end
  if rec.a >= rec.m then return 'max_attempts_reached' end
  if s == 'unconfirmed' then return 'unconfirmed' end
  return 'pending'
end

-- rules.ts receiptEvent and freesSlot: audits a recorded report of verification `id`; an undelivered
-- one for the current code (the code hash's `id`) frees its slot in the channel's and phone's logs.
local function apply_receipt(code_key, channel_log, phone_log, id, rec, now)
  local event = 'code.undelivered'
  if rec.d == 'delivered' then event = 'code.delivered' end
  audit(now, { 'event', event, 'errorCode', rec.ec, 'outId', id })
  if rec.d ~= 'delivered' and redis.call('HGET', code_key, 'id') == id then
    redis.call('ZREM', channel_log, id)
    redis.call('ZREM', phone_log, id)
  end
end
