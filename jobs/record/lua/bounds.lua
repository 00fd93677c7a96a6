-- Whether a run whose lease lapsed may be taken over once more: a library, included after
-- settle.lua. KEYS: none of its own. ARGV[6..7]: max_takeovers, run_timeout_ms.
-- exhausted(started, takeovers) returns false, or why not (its takeovers are used up, or
-- RUN_TIMEOUT_S has passed since its first start).
local function exhausted(started, takeovers)
  if tonumber(takeovers or '0') >= tonumber(ARGV[6]) then return 'max-takeovers' end
  local t = redis.call('TIME')
  local now = t[1] * 1000 + math.floor(t[2] / 1000)
  if now - tonumber(started or '0') >= tonumber(ARGV[7]) then return 'run-timeout' end
  return false
end
