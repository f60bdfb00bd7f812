-- A verification record as kept (rules.ts verificationStatus reads it in the caller, at the `now` returned).
-- KEYS[1] verification records. ARGV after the prelude's: verification id, retention ms.
-- Returns {now, record JSON} or {now} when it is not kept.
local now = now_ms()
local rec = ver_get(KEYS[1], ARGV[ARG0 + 1], now, tonumber(ARGV[ARG0 + 2]))
if not rec then return reply({now}) end
return reply({now, cjson.encode(rec)})
