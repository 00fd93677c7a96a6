-- Deletes a job's keys only if the job still has the status it was chosen for.
-- KEYS: the job's keys (record, events, lease, readers)[, the pending-jobs index (standalone
-- Redis): a job purged leaves it]. ARGV[1]: that status;
-- ARGV[2..3]: the codes that mean cancelled (jobs.events.CANCEL_CODES).
-- Returns the number of keys deleted.
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
  if #last == 0 then return 0 end
  local f = {}
  for i = 1, #last[1][2], 2 do f[last[1][2][i]] = last[1][2][i + 1] end
  if f['event'] == 'complete' then
    status = 'completed'
  elseif f['event'] == 'error' then
    local code = cjson.decode(f['data'])['code']
    status = (code == ARGV[2] or code == ARGV[3]) and 'cancelled' or 'failed'
  end
end
if status ~= ARGV[1] then return 0 end
if KEYS[5] then redis.call('ZREM', KEYS[5], string.match(KEYS[1], '{([0-9a-f]+)}$')) end
return redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
