-- How many jobs are pending now, after dropping the entries whose time is up.
-- KEYS: index. ARGV: none.
-- Returns the count.
local t = redis.call('TIME')
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t[1] * 1000 + math.floor(t[2] / 1000))
return redis.call('ZCARD', KEYS[1])
