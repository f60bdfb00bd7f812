-- rules.ts judgeSend: reserve one send if every sliding window of every limit group allows it (all or
-- nothing), and (a code send) keep its code as pending (field `p:<send id>`) until commit-send
-- promotes it; the current code stays valid while the SMS is in flight. A notice keeps no code.
-- A refusal is audited here (code.rate_limited or notice.rate_limited).
-- A code send records its verification (state `reserved`) and answers when the next send would pass
-- every channel and phone window (rules.ts resendAt).
-- KEYS[1] code hash, KEYS[2] verification records, KEYS[3..g+2] one send log per limit group (group 1
-- is the (channel, phone) one), [last KEY audit]
-- ARGV after the prelude's: kind (code or notice), send id, code HMAC (empty for a notice), code TTL ms,
-- record keep ms, max attempts, retention ms, group count g,
-- then per group: its name, window count n, and n triples (count, window ms, label); then the
-- verdicts of groups decided elsewhere (Redis Cluster: per-IP and global, in their own slots, reserved
-- before this script and undone by the caller if this one refuses): count o, then o quadruples
-- (name, refusing window index or -1, its label, retry-after ms). Groups are numbered in that order.
-- Last, where the send id leads: '1' then phone and channel, its index being the KEY after the send
-- logs (one node, Sentinel: written here, only if the send is reserved); '0' none (Cluster: the index
-- lives in its own slot, written by the caller before this script and dropped if it refuses).
-- Returns {1, now, expiresAt, resendAt} or {0, refusing group index, refusing window index, retry-after ms}.
local now = now_ms()
local kind = ARGV[ARG0 + 1]
local send_id = ARGV[ARG0 + 2]
local code_hash = ARGV[ARG0 + 3]
local ttl = tonumber(ARGV[ARG0 + 4])
local keep = tonumber(ARGV[ARG0 + 5])
local max_attempts = tonumber(ARGV[ARG0 + 6])
local retention = tonumber(ARGV[ARG0 + 7])
local groups = tonumber(ARGV[ARG0 + 8])

local refused_group, refused_window, refused_label = -1, -1, nil
local retry, resend = 0, 0
local longest = {}
local at = ARG0 + 8
for g = 1, groups do
  local name = ARGV[at + 1]
  -- The channel and phone windows also tell, in the same pass, when the next send would pass.
  local refused, label, frees, after
  refused, label, frees, longest[g], at, after = check_windows(KEYS[2 + g], now, at + 1, name == 'channel' or name == 'phone')
  if refused >= 0 and refused_group < 0 then
    refused_group, refused_window, refused_label = g - 1, refused, name .. ':' .. label
  end
  if frees > retry then retry = frees end
  if after > resend then resend = after end
end
local outside = tonumber(ARGV[at + 1] or '0')
at = at + 1
for o = 1, outside do
  local refused, frees = tonumber(ARGV[at + 2]), tonumber(ARGV[at + 4])
  if refused >= 0 and refused_group < 0 then
    refused_group, refused_window, refused_label = groups + o - 1, refused, ARGV[at + 1] .. ':' .. ARGV[at + 3]
  end
  if frees > retry then retry = frees end
  at = at + 4
end
if refused_group >= 0 then
  audit(now, { 'event', kind .. '.rate_limited', 'reason', refused_label })
  return reply({0, refused_group, refused_window, retry})
end

local index_at = at + 1
if ARGV[index_at] == '1' then
  local index = KEYS[groups + 3]
  redis.call('HSET', index, 't', kind, 'p', ARGV[index_at + 1], 'c', ARGV[index_at + 2])
  redis.call('PEXPIRE', index, retention)
end
for g = 1, groups do
  redis.call('ZADD', KEYS[2 + g], now, send_id)
  redis.call('PEXPIRE', KEYS[2 + g], longest[g])
end
if kind == 'notice' then return reply({1, now, now, now}) end
live_code(KEYS[1], now)
keep_code(KEYS[1], now + keep, now, { 'p:' .. send_id, code_hash .. ' ' .. now .. ' ' .. (now + ttl) })
ver_put(KEYS[2], send_id, { c = now, e = now + ttl, m = max_attempts, a = 0, s = 'reserved', d = 'unknown', rp = 0 }, now, retention)
return reply({1, now, now + ttl, now + resend})
