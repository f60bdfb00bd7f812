-- Drops an in-flight record the caller's lease holds, so that a retry runs.
-- KEYS[1] the key's record; ARGV[1] lease
if redis.call('HGET', KEYS[1], 'lease') == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
