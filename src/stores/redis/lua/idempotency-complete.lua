-- Replaces an in-flight record with the answer, if the caller's lease still holds it.
-- KEYS[1] the key's record; ARGV[1] lease, ARGV[2] response JSON, ARGV[3] how long to keep it (ms)
-- Returns 1, or 0 when the lease had expired (the record is left as it is).
if redis.call('HGET', KEYS[1], 'lease') ~= ARGV[1] then return 0 end
redis.call('HDEL', KEYS[1], 'lease')
redis.call('HSET', KEYS[1], 'response', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
