-- rules.ts canCancel: a pending verification becomes canceled and, if its code is the current one, that
-- code never verifies again (field `cx`). Audits code.canceled.
-- KEYS[1] code hash, KEYS[2] verification records, [KEYS[3] audit]
-- ARGV after the prelude's: verification id, retention ms.
-- Returns {0} unknown, {1, 1, 'canceled'}, or {1, 0, status} when it was not pending.
local now = now_ms()
local id = ARGV[ARG0 + 1]
local retention = tonumber(ARGV[ARG0 + 2])
local rec = ver_get(KEYS[2], id, now, retention)
if not rec then return reply({0}) end
local status = ver_status(rec, now)
if status ~= 'pending' then return reply({1, 0, status}) end
rec.s = 'canceled'
ver_put(KEYS[2], id, rec, now, retention)
if read_code(KEYS[1], now, 'id')[1] == id then redis.call('HSET', KEYS[1], 'cx', 1) end
audit(now, { 'event', 'code.canceled', 'outId', id })
return reply({1, 1, 'canceled'})
