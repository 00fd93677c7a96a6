-- One entry in a sliding window of a per-user rate limit (job creations, stream tickets).
-- KEYS: the window (a ZSET scored by the Redis server's clock). ARGV: window_ms, limit, member.
-- Returns 0 (counted), or the ms until a slot frees (refused: nothing counted).
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, oldest[2] + ARGV[1] - now)
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 0
