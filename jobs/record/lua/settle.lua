-- The settle step the scripts that end a job share: a library, included before them.
-- KEYS: job, events, lease, readers[, webhook, webhooks_due].
-- ARGV[1..4]: grace_s, retention_s, maxlen, result_ttl_s (the including script's own
-- arguments follow).
-- settle(status, event, data, owner) stores the terminal event and returns its entry id.
-- The record is kept, compacted, for result_ttl_s (a failure or cancel at least retention_s);
-- a completed job's input goes (only its result matters now), and its complete event's data is
-- kept as 'complete'; 0 deletes it at once.
-- With the two webhook keys (webhooks on), settling also records the job's delivery and makes it
-- due at once, in the same step: whichever instance settles, and even if it dies right after,
-- the delivery is there for any instance's sweep.
local function settle(status, event, data, owner)
  if KEYS[6] then
    local t = redis.call('TIME')
    local at = t[1] * 1000 + math.floor(t[2] / 1000)
    local job_id = string.match(KEYS[1], '{([0-9a-f]+)}$')
    redis.call('HSET', KEYS[5], 'jobId', job_id, 'owner', owner,
               'agent', redis.call('HGET', KEYS[1], 'agent') or '', 'status', status,
               'traceparent', redis.call('HGET', KEYS[1], 'traceparent') or '',
               'data', data, 'endedAt', at, 'attempts', 0)
    -- 8 days: past any sensible retry bound; a dead letter's own TTL is set when it dies
    redis.call('EXPIRE', KEYS[5], 691200)
    redis.call('ZADD', KEYS[6], at, job_id)
  end
  local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*',
                        'event', event, 'data', data, 'owner', owner)
  redis.call('EXPIRE', KEYS[2], ARGV[1])
  local keep = tonumber(ARGV[4])
  if status ~= 'completed' then keep = math.max(keep, tonumber(ARGV[2])) end
  if keep <= 0 then
    redis.call('DEL', KEYS[1])
  else
    local t = redis.call('TIME')
    local finished = t[1] * 1000 + math.floor(t[2] / 1000)
    redis.call('HSET', KEYS[1], 'status', status, 'finishedAt', finished)
    if status == 'completed' then
      redis.call('HSET', KEYS[1], 'complete', data)
      redis.call('HDEL', KEYS[1], 'input')
    else
      redis.call('HSET', KEYS[1], 'error', data)
    end
    redis.call('HDEL', KEYS[1], 'cancel')
    redis.call('EXPIRE', KEYS[1], keep)
  end
  redis.call('DEL', KEYS[3], KEYS[4])
  return id
end
