-- Undo a reserved send whose SMS did not go out: it stops counting and its pending
-- code is dropped (the current code was never touched). Audits code.send_failed.
-- KEYS[1] code hash, KEYS[2] send log, [KEYS[3] audit]
-- ARGV after the prelude's: send id, then field/value pairs for the audit entry.
local now = now_ms()
local send_id = ARGV[ARG0 + 1]
redis.call('ZREM', KEYS[2], send_id)
redis.call('HDEL', KEYS[1], 'p:' .. send_id)

local extra = { 'event', 'code.send_failed' }
for i = ARG0 + 2, #ARGV do extra[#extra + 1] = ARGV[i] end
audit(now, extra)
return 1
