-- Undoes a claim whose stream was refused: the job is pending again (after pending.lua).
-- KEYS: job, lease[, the pending-jobs index (standalone Redis): the job is back in it].
-- ARGV: runner, pending_s.
-- Returns 1, or 0 if the job was not running under that runner.
local f = redis.call('HMGET', KEYS[1], 'status', 'runner')
if f[1] ~= 'running' or f[2] ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'status', 'pending')
redis.call('HDEL', KEYS[1], 'startedAt', 'runner')
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('DEL', KEYS[2])
if KEYS[3] then pending_add(KEYS[3], job_of(KEYS[1]), ARGV[2] * 1000) end
return 1
