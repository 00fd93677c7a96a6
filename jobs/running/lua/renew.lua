-- Renews a runner's lease, and reports what the runner needs to stop a run.
-- KEYS: lease, job, readers. ARGV: runner, lease_ms.
-- Returns {held (0|1), cancel requested (0|1), live readers}.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {0, 0, 0} end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local t = redis.call('TIME')
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', t[1] * 1000 + math.floor(t[2] / 1000))
local cancel = redis.call('HGET', KEYS[2], 'cancel') and 1 or 0
return {1, cancel, redis.call('ZCARD', KEYS[3])}
