-- Stores a new pending job, with the snapshot of its owner's active custom agent.
-- KEYS: job, then optionally the owner's custom agent (standalone Redis only: on a cluster it
-- is in another slot).
-- ARGV[1]: ttl_s, ARGV[2]: the record's fields, a JSON array of strings [field, value, ...]
-- (one argument, not two per field: encoding arguments is most of a call's client cost; every
-- value a string, so cjson returns each exactly).
-- An active custom agent (isActive true) becomes the record's customAgent: its stored config,
-- untouched (decoded only to check isActive: cjson would re-encode [] as {}, reorder keys and
-- reformat numbers), with version and updatedAt appended, which Job.from_hash reads as the
-- same snapshot that jobs.record.custom_agents.snapshot makes (same values, same key order;
-- only the spelling differs from Job.to_hash's: non-ASCII stays UTF-8, and floats below 1e-4
-- are written as orjson writes them).
-- Returns that agent's {config, version, updatedAt}, or nil.
local fields = cjson.decode(ARGV[2])
local agent = false
if KEYS[2] then
  agent = redis.call('HMGET', KEYS[2], 'config', 'version', 'updatedAt')
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
return agent
