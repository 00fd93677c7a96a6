-- Stores the response of a request that took an Idempotency-Key, if the key is still ours.
-- KEYS: entry. ARGV: token, response, ttl_s.
-- Returns 1 (stored) or 0.
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'response', ARGV[2])
redis.call('HDEL', KEYS[1], 'token')
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
