-- Appends runs' events, fenced.
-- KEYS, per run: record, lease, events. ARGV: maxlen, ttl_s, then one argument per run: a JSON
-- array of the run's runner name, after_id (the newest entry the runner knows is stored, 0-0
-- for none), then entry id, event, data, journal ('' for none) for each event (one argument
-- per run, not four per event: encoding arguments is most of a call's client cost). A journal
-- is what a takeover needs that clients do not see (a tool's full result, the model's turn):
-- stored in the entry's field journal.
-- The record's storedId is the newest entry stored. Returns a verdict per run: 'ok' (stored),
-- 'fenced' (the job is not running under this runner's lease) or 'gap' (entries the runner
-- saw stored are gone); the last two write nothing.
local function before(a, b)
  local da, db = string.find(a, '-', 1, true), string.find(b, '-', 1, true)
  local ma, mb = tonumber(string.sub(a, 1, da - 1)), tonumber(string.sub(b, 1, db - 1))
  return ma < mb or (ma == mb and tonumber(string.sub(a, da + 1)) < tonumber(string.sub(b, db + 1)))
end
local verdicts = {}
for j = 1, #KEYS, 3 do
  local batch = cjson.decode(ARGV[2 + (j + 2) / 3])
  local runner = batch[1]
  local f = redis.call('HMGET', KEYS[j], 'status', 'runner', 'storedId')
  local verdict = 'ok'
  if f[1] ~= 'running' or f[2] ~= runner or redis.call('GET', KEYS[j + 1]) ~= runner then
    verdict = 'fenced'
  else
    local stored = f[3] or '0-0'
    local retried = stored ~= batch[2]
    if retried and before(stored, batch[2]) then
      verdict = 'gap'
    else
      local last = stored
      for b = 3, #batch, 4 do
        -- A retried batch may have landed, in whole or in part: skip what is stored.
        if not retried or before(stored, batch[b]) then
          if batch[b + 3] == '' then
            redis.call('XADD', KEYS[j + 2], 'MAXLEN', '~', ARGV[1], batch[b],
                       'event', batch[b + 1], 'data', batch[b + 2])
          else
            redis.call('XADD', KEYS[j + 2], 'MAXLEN', '~', ARGV[1], batch[b],
                       'event', batch[b + 1], 'data', batch[b + 2], 'journal', batch[b + 3])
          end
          last = batch[b]
        end
      end
      redis.call('EXPIRE', KEYS[j + 2], ARGV[2])
      redis.call('HSET', KEYS[j], 'storedId', last)
    end
  end
  verdicts[#verdicts + 1] = verdict
end
return verdicts
