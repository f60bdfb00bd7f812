-- Reserve one send if every sliding window of every limit group allows it (all or
-- nothing), and keep its code as pending (field `p:<send id>`) until commit-send
-- promotes it; the current code stays valid while the SMS is in flight.
-- A refusal is audited here (code.rate_limited).
-- KEYS[1] code hash, KEYS[2..g+1] one send log per limit group (sorted set, score =
-- Redis time in ms; group 1 is the (channel, phone) one), [last KEY audit]
-- ARGV after the prelude's: send id, code HMAC, code TTL ms, record keep ms, group count g,
-- then per group: its name, window count n, and n triples (count, window ms, label)
-- Returns {1, now, expiresAt} or {0, refusing group index, refusing window index, retry-after ms}.
local now = now_ms()
local send_id = ARGV[ARG0 + 1]
local code_hash = ARGV[ARG0 + 2]
local ttl = tonumber(ARGV[ARG0 + 3])
local keep = tonumber(ARGV[ARG0 + 4])
local groups = tonumber(ARGV[ARG0 + 5])

local refused_group, refused_window, refused_label = -1, -1, nil
local retry = 0
local longest = {}
local at = ARG0 + 5
for g = 1, groups do
  local key = KEYS[1 + g]
  local name = ARGV[at + 1]
  local n = tonumber(ARGV[at + 2])
  at = at + 2
  local windows = {}
  longest[g] = 0
  for i = 1, n do
    windows[i] = { tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2]), ARGV[at + 3] }
    if windows[i][2] > longest[g] then longest[g] = windows[i][2] end
    at = at + 3
  end
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - longest[g])
  for i = 1, n do
    local limit, window = windows[i][1], windows[i][2]
    local since = '(' .. (now - window)
    local used = redis.call('ZCOUNT', key, since, '+inf')
    if used >= limit then
      if refused_group < 0 then
        refused_group, refused_window, refused_label = g - 1, i - 1, name .. ':' .. windows[i][3]
      end
      -- The slot frees when the send that keeps the window full leaves it.
      local blocker = redis.call('ZRANGEBYSCORE', key, since, '+inf', 'WITHSCORES', 'LIMIT', used - limit, 1)
      local frees = tonumber(blocker[2]) + window - now
      if frees > retry then retry = frees end
    end
  end
end
if refused_group >= 0 then
  audit(now, { 'event', 'code.rate_limited', 'reason', refused_label })
  return {0, refused_group, refused_window, retry}
end

for g = 1, groups do
  redis.call('ZADD', KEYS[1 + g], now, send_id)
  redis.call('PEXPIRE', KEYS[1 + g], longest[g])
end
redis.call('HSET', KEYS[1], 'p:' .. send_id, code_hash .. ' ' .. now .. ' ' .. (now + ttl))
if redis.call('PTTL', KEYS[1]) < keep then redis.call('PEXPIRE', KEYS[1], keep) end
return {1, now, now + ttl}
