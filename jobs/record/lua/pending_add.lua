-- Puts a job in the pending-jobs index, on a Redis Cluster (after pending.lua): there the
-- job scripts cannot take the index, which is in another slot.
-- KEYS: index. ARGV: job id, ttl_ms.
-- Returns 1.
pending_add(KEYS[1], ARGV[1], tonumber(ARGV[2]))
return 1
