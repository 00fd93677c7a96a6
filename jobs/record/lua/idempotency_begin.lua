-- Takes an Idempotency-Key for a request, or finds what it stands for.
-- KEYS: entry. ARGV: fingerprint, token, lock_s.
-- Returns {'new'}, {'reused'}, {'in-progress'} or {'replay', response}.
local f = redis.call('HMGET', KEYS[1], 'fingerprint', 'response')
if not f[1] then
  redis.call('HSET', KEYS[1], 'fingerprint', ARGV[1], 'token', ARGV[2])
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  return {'new'}
end
if f[1] ~= ARGV[1] then return {'reused'} end
if not f[2] then return {'in-progress'} end
return {'replay', f[2]}
