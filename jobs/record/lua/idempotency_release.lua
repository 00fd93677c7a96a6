-- Gives an Idempotency-Key back if it is still ours.
-- KEYS: entry. ARGV: token.
-- Returns the number of keys deleted (1), or 0.
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
