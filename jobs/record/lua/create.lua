-- Stores a new pending job, with the snapshot of its owner's active custom agent; on a
-- standalone Redis it also enters the job in the pending-jobs index and its owner's index, so
-- that creating a job is this one script (after pending.lua and listing.lua).
-- KEYS: job; then, on a standalone Redis only (on a cluster they are in other slots): the
-- pending-jobs index, the owner's job index and, optionally, the owner's custom agent.
-- ARGV[1]: ttl_s, ARGV[2]: the record's fields, a JSON array of strings [field, value, ...]
-- (one argument, not two per field: encoding arguments is most of a call's client cost; every
-- value a string, so cjson returns each exactly); with the indexes, ARGV[3..5]: createdAt
-- (ms), the owner's index's max entries and horizon_s.
-- An active custom agent (isActive true) becomes the record's customAgent: its stored config,
-- untouched (decoded only to check isActive: cjson would re-encode [] as {}, reorder keys and
-- reformat numbers), with version and updatedAt appended, which Job.from_hash reads as the
-- same snapshot that jobs.record.custom_agents.snapshot makes (same values, same key order;
-- only the spelling differs from Job.to_hash's: non-ASCII stays UTF-8, and floats below 1e-4
-- are written as orjson writes them).
-- Returns that agent's {config, version, updatedAt}, or nil.
local fields = cjson.decode(ARGV[2])
local agent = false
if KEYS[4] then
  agent = redis.call('HMGET', KEYS[4], 'config', 'version', 'updatedAt')
  if agent[1] and cjson.decode(agent[1]).isActive == true then
    fields[#fields + 1] = 'customAgent'
    fields[#fields + 1] = string.sub(agent[1], 1, -2)
      .. ',"version":' .. agent[2] .. ',"updatedAt":' .. agent[3] .. '}'
  else
    agent = false
  end
end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('EXPIRE', KEYS[1], ARGV[1])
if KEYS[2] then
  local job_id = job_of(KEYS[1])
  pending_add(KEYS[2], job_id, ARGV[1] * 1000)
  index_add(KEYS[3], job_id, tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5]))
end
return agent
