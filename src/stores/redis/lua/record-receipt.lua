-- rules.ts receiptOutcome: a delivery report for verification `id`, recorded once. While the send is in
-- flight (`reserved`) it is kept for commit-send to apply; otherwise it is audited now and, undelivered
-- for the current code, frees that send's slot in the channel's and phone's logs (apply_receipt).
-- KEYS[1] verification records, KEYS[2] code hash, KEYS[3] the (channel, phone) send log, KEYS[4] the
-- phone's send log, [KEYS[5] audit]
-- ARGV after the prelude's: id, 1 delivered | 0 not, error code, reported at (ms), retention ms.
-- Returns {'recorded' | 'early' | 'duplicate' | 'unknown'}.
local now = now_ms()
local id = ARGV[ARG0 + 1]
local retention = tonumber(ARGV[ARG0 + 5])
local rec = ver_get(KEYS[1], id, now, retention)
if not rec then return reply({'unknown'}) end
if rec.d ~= 'unknown' then return reply({'duplicate'}) end
rec.d = 'undelivered'
if ARGV[ARG0 + 2] == '1' then rec.d = 'delivered' end
rec.ec = ARGV[ARG0 + 3]
rec.rt = tonumber(ARGV[ARG0 + 4])
if rec.s == 'reserved' then
  rec.rp = 1
  ver_put(KEYS[1], id, rec, now, retention)
  return reply({'early'})
end
ver_put(KEYS[1], id, rec, now, retention)
live_code(KEYS[2], now)
apply_receipt(KEYS[2], KEYS[3], KEYS[4], id, rec, now)
return reply({'recorded'})
