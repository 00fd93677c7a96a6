-- Marks a stream present on a job for ttl_ms.
-- KEYS: readers. ARGV: member, ttl_ms. Scores are expiry times on the Redis server's clock,
-- so instances with skewed clocks agree on who is present.
-- Returns nothing.
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZADD', KEYS[1], now + ARGV[2], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2] * 2)
