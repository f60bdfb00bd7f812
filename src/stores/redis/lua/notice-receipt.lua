-- rules.ts receiptEvent for a notice: its OutId's index (hash: t kind, p phone, c channel, d reported)
-- takes one report; later ones are duplicates.
-- KEYS[1] the OutId's index, [KEYS[2] audit]. ARGV after the prelude's: out id, 1 delivered | 0 not, error code.
-- Returns {'recorded' | 'duplicate' | 'unknown'}.
local now = now_ms()
if redis.call('HGET', KEYS[1], 't') ~= 'notice' then return reply({'unknown'}) end
if redis.call('HSETNX', KEYS[1], 'd', 1) == 0 then return reply({'duplicate'}) end
local event = 'notice.undelivered'
if ARGV[ARG0 + 2] == '1' then event = 'notice.delivered' end
audit(now, { 'event', event, 'errorCode', ARGV[ARG0 + 3], 'outId', ARGV[ARG0 + 1] })
return reply({'recorded'})
