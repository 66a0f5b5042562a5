/**
 * counts (and stats): runs by status and by source from the meta hash, minus lapsed runs
 * (O(log N) per band, skipped entirely while no lease can have lapsed). Read-only.
 *
 * KEYS: 1 lease, 2 meta, 3 index
 * ARGV: 1 tag, 2 detail ('1': also the oldest live queuedAt and startedAt)
 * Returns: { queued, running, lapsed, oldestQueuedAt|'', oldestStartedAt|'', now, then per source: name, count }
 */
export const COUNTS = `
local meta = redis.call('HGETALL', KEYS[2])
local queued, running = 0, 0
local sources, ranks = {}, {}
local lb, hw = nil, nil
for i = 1, #meta, 2 do
  local f, v = meta[i], meta[i + 1]
  if f == 'lb' then
    lb = v
  elseif f == 'hw' then
    hw = v
  elseif f == 'c:queued' then
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
local now = scope_now(hw)
local lapsed = 0
if (queued + running) > 0 and maybe_lapsed(lb, now) then
  local lq = lapsed_in(KEYS[1], 0, 0, now)
  local lr = lapsed_in(KEYS[1], 0, 1, now)
  queued = queued - lq
  running = running - lr
  lapsed = lq + lr
  for name, rank in pairs(ranks) do
    lq = lapsed_in(KEYS[1], rank, 0, now)
    lr = lapsed_in(KEYS[1], rank, 1, now)
    queued = queued - lq
    running = running - lr
    lapsed = lapsed + lq + lr
    if sources[name] then sources[name] = sources[name] - lq - lr end
  end
end
-- The score of the oldest live run in [lo, hi] of the index, skipping lapsed runs (deadlines from
-- the lease set, so no value is read); bounded: past 1000 lapsed runs ahead of it, gives up ('').
local function oldest_live(lo, hi, live)
  if live <= 0 then return '' end
  for offset = 0, 900, 100 do
    local batch = redis.call('ZRANGE', KEYS[3], fmt(lo), fmt(hi), 'BYSCORE', 'LIMIT', offset, 100,
      'WITHSCORES')
    if #batch == 0 then return '' end
    if lapsed == 0 then return batch[2] end
    local ids = {}
    for i = 1, #batch, 2 do ids[#ids + 1] = batch[i] end
    local leases = redis.call('ZMSCORE', KEYS[1], unpack(ids))
    for j = 1, #ids do
      if leases[j] then
        local _, _, deadline = decode_lease(tonumber(leases[j]))
        if deadline > now then return batch[j * 2] end
      end
    end
  end
  return ''
end
local oldest_queued, oldest_running = '', ''
if ARGV[2] == '1' then
  oldest_queued = oldest_live(0, T - 1, queued)
  local r = oldest_live(T, 2 * T - 1, running)
  if r ~= '' then oldest_running = fmt(tonumber(r) - T) end
end
local out = { queued, running, lapsed, oldest_queued, oldest_running, fmt(now) }
for name, n in pairs(sources) do
  if n > 0 then
    out[#out + 1] = name
    out[#out + 1] = n
  end
end
return out
`;
