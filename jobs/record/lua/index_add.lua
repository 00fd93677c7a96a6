-- Adds a new job to its owner's index (after listing.lua), dropping entries past the horizon
-- or the bound: on a Redis Cluster, where create cannot (the index is in another slot).
-- KEYS: index. ARGV: job id, createdAt (ms), max entries, horizon_s.
-- Returns 1.
index_add(KEYS[1], ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4]))
return 1
