-- Takes (or refreshes) one of a user's stream slots.
-- KEYS: streams (a ZSET of slots scored by when they expire, on the Redis server's clock).
-- ARGV: ttl_ms, limit, member.
-- Returns 1 if the stream holds a slot, else 0.
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[3]) == false
   and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + ARGV[1], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
