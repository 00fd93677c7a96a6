-- Whether a user is under their rolling token budget.
-- KEYS: tokens (a ZSET of <call id>:<tokens>, scored by the Redis server's clock).
-- ARGV: window_ms, budget.
-- Returns 0 while under the budget, else the ms until enough of the oldest calls leave the
-- window for the total to be under it again.
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ARGV[1])
local budget = tonumber(ARGV[2])
local calls = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local used = 0
for i = 1, #calls, 2 do
  used = used + tonumber(string.match(calls[i], ':(%d+)$'))
end
if used < budget then
  return 0
end
for i = 1, #calls, 2 do
  used = used - tonumber(string.match(calls[i], ':(%d+)$'))
  if used < budget then
    return math.max(1, calls[i + 1] + ARGV[1] - now)
  end
end
return 1
