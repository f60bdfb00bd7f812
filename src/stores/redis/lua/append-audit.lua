-- Append one audit event that no other decision carries (code.sent, notice.*).
-- KEYS[1] audit. ARGV after the prelude's: field/value pairs of the event.
local extra = {}
for i = ARG0 + 1, #ARGV do extra[#extra + 1] = ARGV[i] end
audit(now_ms(), extra)
return reply({1})
