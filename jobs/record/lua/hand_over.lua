-- A draining instance hands its run over: its lease goes at once (a live instance takes the
-- run over at its next sweep) and the record says why.
-- KEYS: job, lease. ARGV: runner.
-- Returns 1, or 0 if the lease was not the runner's.
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], 'handedOver', '1')
return 1
