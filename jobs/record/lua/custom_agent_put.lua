-- Stores a custom agent as its next version.
-- KEYS: the custom agent. ARGV: config (JSON), updatedAt.
-- Returns the new version.
local version = redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('HSET', KEYS[1], 'config', ARGV[1], 'updatedAt', ARGV[2])
return version
