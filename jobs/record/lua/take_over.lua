-- Takes over a running job whose lease lapsed (after settle.lua and bounds.lua): claimed by
-- the instance taking over under a new runner name (<instance>#<takeovers>: the old runner's
-- writes stay fenced off, even if it is the same instance) and a new lease; or settled as
-- RUNNER_LOST when it may not be taken over again.
-- KEYS: job, events, lease, readers[, webhook, webhooks_due].
-- ARGV[1..4]: settle's (grace_s, retention_s, maxlen, result_ttl_s);
-- ARGV[5]: data of the RUNNER_LOST error; ARGV[6..7]: bounds' (max_takeovers, run_timeout_ms);
-- ARGV[8]: the instance taking over; ARGV[9]: lease_ms.
-- Returns {'alive'|'not-running'}, {'lost:<why>', old runner, owner}, or
-- {'claimed', old runner, handedOver ('' or '1'), field, value, ...}.
local f = redis.call('HMGET', KEYS[1], 'owner', 'status', 'startedAt', 'takeovers', 'runner',
                     'handedOver')
if f[2] ~= 'running' then return {'not-running'} end
if redis.call('EXISTS', KEYS[3]) == 1 then return {'alive'} end
local why = exhausted(f[3], f[4])
if why then
  settle('failed', 'error', ARGV[5], f[1])
  return {'lost:' .. why, f[5] or '', f[1]}
end
local k = tonumber(f[4] or '0') + 1
local runner = ARGV[8] .. '#' .. k
redis.call('HSET', KEYS[1], 'runner', runner, 'takeovers', k)
redis.call('HDEL', KEYS[1], 'handedOver')
redis.call('SET', KEYS[3], runner, 'PX', ARGV[9])
local fields = redis.call('HGETALL', KEYS[1])
table.insert(fields, 1, f[6] or '')
table.insert(fields, 1, f[5] or '')
table.insert(fields, 1, 'claimed')
return fields
