-- Loads a job and, if it is the owner's and pending, marks it running under the runner's
-- lease in the same step. A reader joining a job it may watch (its owner's, claimed here or
-- running) is marked present at once.
-- KEYS: job, lease, readers[, the pending-jobs index (standalone Redis): a job claimed
-- leaves it].
-- ARGV: owner, startedAt, runner ('' claims nothing: a draining instance), ttl_ms, lease_ms,
-- reader ('' for none), presence_ms.
-- Returns nil (no job), or {claimed (0|1), field, value, ...}.
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then return nil end
local owner, status
for i = 1, #fields, 2 do
  if fields[i] == 'owner' then owner = fields[i + 1] end
  if fields[i] == 'status' then status = fields[i + 1] end
end
local claimed = 0
if owner == ARGV[1] and status == 'pending' and ARGV[3] ~= '' then
  redis.call('HSET', KEYS[1], 'status', 'running', 'startedAt', ARGV[2], 'runner', ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[5])
  fields = redis.call('HGETALL', KEYS[1])
  claimed = 1
end
if owner == ARGV[1] and ARGV[6] ~= '' and (claimed == 1 or status == 'running') then
  local t = redis.call('TIME')
  local now = t[1] * 1000 + math.floor(t[2] / 1000)
  redis.call('ZADD', KEYS[3], now + ARGV[7], ARGV[6])
  redis.call('PEXPIRE', KEYS[3], ARGV[7] * 2)
end
if claimed == 1 and KEYS[4] then
  redis.call('ZREM', KEYS[4], string.match(KEYS[1], '{([0-9a-f]+)}$'))
end
table.insert(fields, 1, claimed)
return fields
