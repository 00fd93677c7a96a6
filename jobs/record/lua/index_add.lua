-- Adds a new job to its owner's index, dropping entries past the horizon or the bound.
-- KEYS: index. ARGV: job id, createdAt (ms), max entries, horizon_s.
-- Returns 1.
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (ARGV[2] - ARGV[4] * 1000))
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[3]) + 1))
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
