-- Counts one model call's tokens.
-- KEYS: tokens. ARGV: window_ms, member (<call id>:<tokens>).
-- Returns 1.
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
