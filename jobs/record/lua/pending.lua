-- The pending-jobs index (jobs.record.pending), a library included before the scripts that
-- make a job pending: create and unclaim (which take KEYS and ARGV of their own).
-- pending_add(index, job_id, ttl_ms) puts the job in the index (or moves its score) with the
-- time its pending record expires (ms, on the server's clock), drops the entries whose time
-- is up, and keeps the key at least ttl_ms longer.
local function pending_add(index, job_id, ttl_ms)
  local t = redis.call('TIME')
  local now = t[1] * 1000 + math.floor(t[2] / 1000)
  redis.call('ZREMRANGEBYSCORE', index, '-inf', now)
  redis.call('ZADD', index, now + ttl_ms, job_id)
  if redis.call('PTTL', index) < ttl_ms then redis.call('PEXPIRE', index, ttl_ms) end
end
local function job_of(key)
  return string.match(key, '{([0-9a-f]+)}$')
end
