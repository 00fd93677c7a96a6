-- Ends a running job without a lease as RUNNER_LOST when it may not be taken over again
-- (after settle.lua and bounds.lua).
-- KEYS: job, events, lease, readers[, webhook, webhooks_due].
-- ARGV[1..4]: settle's (grace_s, retention_s, maxlen, result_ttl_s);
-- ARGV[5]: data of the RUNNER_LOST error; ARGV[6..7]: bounds' (max_takeovers, run_timeout_ms).
-- Returns 'alive', 'not-running', 'orphaned' (no lease, but a live instance may take the run
-- over) or 'lost:<why>' (settled as RUNNER_LOST here).
local f = redis.call('HMGET', KEYS[1], 'owner', 'status', 'startedAt', 'takeovers')
if f[2] ~= 'running' then return 'not-running' end
if redis.call('EXISTS', KEYS[3]) == 1 then return 'alive' end
local why = exhausted(f[3], f[4])
if not why then return 'orphaned' end
settle('failed', 'error', ARGV[5], f[1])
return 'lost:' .. why
