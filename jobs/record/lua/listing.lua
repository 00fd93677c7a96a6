-- Each user's index of their jobs (jobs.record.listing), a library included before the
-- scripts that add to it: index_add and create (which take KEYS and ARGV of their own).
-- index_add(index, job_id, created_ms, max_entries, horizon_s) adds the job, drops entries
-- older than the horizon and beyond the bound, and gives the key the horizon to live.
local function index_add(index, job_id, created_ms, max_entries, horizon_s)
  redis.call('ZADD', index, created_ms, job_id)
  redis.call('ZREMRANGEBYSCORE', index, '-inf', '(' .. (created_ms - horizon_s * 1000))
  redis.call('ZREMRANGEBYRANK', index, 0, -(tonumber(max_entries) + 1))
  redis.call('EXPIRE', index, horizon_s)
end
