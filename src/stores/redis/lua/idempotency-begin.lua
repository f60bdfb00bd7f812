-- Claims an idempotency key for a request, or tells what holds it (one key: slot-safe on Cluster).
-- KEYS[1] the key's record (hash: fp, lease while in flight, response once answered)
-- ARGV[1] body fingerprint, ARGV[2] a fresh lease, ARGV[3] in-flight bound (ms), ARGV[4] the request's
-- deadline in Redis server time (ms) or '': past it nothing is done (the caller was answered 503; a
-- claim made now would answer its retry 409), and the error `LATE …` is returned (see prelude.lua).
-- Returns {'started'} | {'mismatch'} | {'in_flight'} | {'replay', response JSON}
if ARGV[4] ~= nil and ARGV[4] ~= '' then
  local t = redis.call('TIME')
  if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > tonumber(ARGV[4]) then
    return redis.error_reply('LATE past the request deadline: nothing done')
  end
end
local record = redis.call('HMGET', KEYS[1], 'fp', 'response')
if not record[1] then
  redis.call('HSET', KEYS[1], 'fp', ARGV[1], 'lease', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return { 'started' }
end
if record[1] ~= ARGV[1] then return { 'mismatch' } end
if record[2] then return { 'replay', record[2] } end
return { 'in_flight' }
