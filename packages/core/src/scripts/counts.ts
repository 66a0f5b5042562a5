/**
 * counts: runs by status and by source from the meta hash, minus lapsed runs (O(log N) per
 * band, and skipped entirely while no lease can have lapsed). Read-only.
 *
 * KEYS: 1 lease, 2 meta, 3 registry
 * ARGV: 1 tag
 * Returns: { queued, running, then per source: name, count }
 */
export const COUNTS = `
local now = now_ms()
local meta = redis.call('HGETALL', KEYS[2])
local queued, running = 0, 0
local sources, ranks = {}, {}
for i = 1, #meta, 2 do
  local f, v = meta[i], meta[i + 1]
  if f == 'c:queued' then
    queued = tonumber(v)
  elseif f == 'c:running' then
    running = tonumber(v)
  else
    local p = string.sub(f, 1, 2)
    if p == 's:' then
      sources[string.sub(f, 3)] = tonumber(v)
    elseif p == 'r:' then
      ranks[string.sub(f, 3)] = tonumber(v)
    end
  end
end
if (queued + running) > 0 and maybe_lapsed(KEYS[3], ARGV[1], now) then
  queued = queued - lapsed_in(KEYS[1], 0, 0, now)
  running = running - lapsed_in(KEYS[1], 0, 1, now)
  for name, rank in pairs(ranks) do
    local lq = lapsed_in(KEYS[1], rank, 0, now)
    local lr = lapsed_in(KEYS[1], rank, 1, now)
    queued = queued - lq
    running = running - lr
    if sources[name] then sources[name] = sources[name] - lq - lr end
  end
end
local out = { queued, running }
for name, n in pairs(sources) do
  if n > 0 then
    out[#out + 1] = name
    out[#out + 1] = n
  end
end
return out
`;
