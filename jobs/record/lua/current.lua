-- Reads a job, settling it first as RUNNER_LOST if its lease has expired and it may not be
-- taken over again (after settle.lua and bounds.lua).
-- KEYS: job, events, lease, readers[, webhook, webhooks_due].
-- ARGV[1..4]: settle's (grace_s, retention_s, maxlen, result_ttl_s);
-- ARGV[5]: data of the RUNNER_LOST error; ARGV[6..7]: bounds' (max_takeovers, run_timeout_ms).
-- Returns the record's fields (empty: no record), with 'lost:<why>' first if it was settled
-- here.
local f = redis.call('HMGET', KEYS[1], 'owner', 'status', 'startedAt', 'takeovers')
if f[2] == 'running' and redis.call('EXISTS', KEYS[3]) == 0 then
  local why = exhausted(f[3], f[4])
  if why then
    settle('failed', 'error', ARGV[5], f[1])
    local fields = redis.call('HGETALL', KEYS[1])
    table.insert(fields, 1, 'lost:' .. why)
    return fields
  end
end
return redis.call('HGETALL', KEYS[1])
