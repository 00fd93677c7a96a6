-- Ends a running job with its runner's terminal event (after settle.lua).
-- KEYS: job, events, lease, readers[, webhook, webhooks_due].
-- ARGV[1..4]: settle's (grace_s, retention_s, maxlen, result_ttl_s);
-- ARGV[5..8]: runner, status, event, data.
-- Returns the entry id, or false if not ours to end.
local f = redis.call('HMGET', KEYS[1], 'owner', 'status', 'runner')
if f[2] ~= 'running' or f[3] ~= ARGV[5] then return false end
return settle(ARGV[6], ARGV[7], ARGV[8], f[1])
