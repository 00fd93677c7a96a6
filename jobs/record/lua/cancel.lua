-- Cancels a job: at once if pending or orphaned, by a flag if running (after settle.lua).
-- KEYS: job, events, lease, readers[, webhook, webhooks_due][, the pending-jobs index].
-- ARGV[1..4]: settle's (grace_s, retention_s, maxlen, result_ttl_s);
-- ARGV[5..6]: owner, data of the CANCELLED error; ARGV[7]: '1' when the last key is the
-- pending-jobs index (standalone Redis: a pending job cancelled leaves it).
-- Returns {outcome, detail}: {'missing', ''}, {'forbidden', ''}, {'cancelled', agent},
-- {'requested', runner} or {'finished', status}.
local f = redis.call('HMGET', KEYS[1], 'owner', 'status', 'runner', 'agent')
if not f[1] then return {'missing', ''} end
if f[1] ~= ARGV[5] then return {'forbidden', ''} end
if f[2] == 'pending' and ARGV[7] == '1' then
  redis.call('ZREM', KEYS[#KEYS], string.match(KEYS[1], '{([0-9a-f]+)}$'))
end
local orphaned = f[2] == 'running' and redis.call('EXISTS', KEYS[3]) == 0
if f[2] == 'pending' or orphaned then
  settle('cancelled', 'error', ARGV[6], f[1])
  return {'cancelled', f[4] or ''}
end
if f[2] == 'running' then
  redis.call('HSET', KEYS[1], 'cancel', '1')
  return {'requested', f[3]}
end
return {'finished', f[2]}
