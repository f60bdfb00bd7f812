-- Shared by every script (prepended at load time).
-- ARGV[1] '1' when the last KEY is the audit stream, ARGV[2] audit retention ms,
-- ARGV[3] audit max length (0 = none), ARGV[4] m, then m pairs of context fields
-- (phone, channel, ip, caller, …) written into every audit entry of this call.
-- The script's own arguments start at ARGV[ARG0 + 1].
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local AUDIT_ON = ARGV[1] == '1'
local AUDIT_KEY = KEYS[#KEYS]
local AUDIT_RETENTION = tonumber(ARGV[2])
local AUDIT_MAXLEN = tonumber(ARGV[3])
local AUDIT_CONTEXT = tonumber(ARGV[4])
local ARG0 = 4 + 2 * AUDIT_CONTEXT

-- Appends one event (context fields plus `extra`, a flat list of field, value) with Redis time,
-- trimming by age (MINID ~) and, when configured, by count (MAXLEN ~).
local function audit(now, extra)
  if not AUDIT_ON then return end
  local args = { 'XADD', AUDIT_KEY, 'MINID', '~', tostring(now - AUDIT_RETENTION), '*' }
  for i = 1, #extra do args[#args + 1] = extra[i] end
  for i = 5, ARG0 do args[#args + 1] = ARGV[i] end
  redis.call(unpack(args))
  if AUDIT_MAXLEN > 0 then redis.call('XTRIM', AUDIT_KEY, 'MAXLEN', '~', AUDIT_MAXLEN) end
end
