/**
 * list: one page of runs in one round trip, read-only (EVAL_RO-safe, can run on replicas).
 * Order: running runs by startedAt newest first, then queued runs by queuedAt newest first;
 * equal times by id, descending. Lapsed runs are skipped even before a sweep.
 *
 * KEYS: 1 runs, 2 index, 3 by-source, 4 lease, 5 meta, 6 registry
 * ARGV: 1 tag, 2 status ('all'|'queued'|'running'), 3 source|'', 4 limit, 5 offset,
 *       6 cursor score relative to the source band|'', 7 cursor id, 8 extra entries the scan may
 *       examine past lapsed runs before it returns a short page with a cursor
 * Returns: { total, nextScore|'', nextId|'', base of the source band, then per run: id, index
 *   score, value, leaseScore } (scores as Redis formats them; the cursor keeps score - base)
 */
export const LIST = `
local now = now_ms()
local limit = tonumber(ARGV[4])
local key, base, rank, source = KEYS[2], 0, 0, ARGV[3]
if source ~= '' then
  local r = redis.call('HGET', KEYS[5], 'r:' .. source)
  if not r then return { 0, '', '' } end
  rank = tonumber(r)
  key = KEYS[3]
  base = rank * 2 * T
end
local lo, hi, phases = base, base + 2 * T, { 0, 1 }
if ARGV[2] == 'queued' then
  hi = base + T
  phases = { 0 }
elseif ARGV[2] == 'running' then
  lo = base + T
  phases = { 1 }
end

local total = redis.call('ZCOUNT', key, fmt(lo), '(' .. fmt(hi))
local lapsed = 0
if total > 0 and maybe_lapsed(KEYS[6], ARGV[1], now) then
  local ranks = { rank }
  if source == '' then ranks = ranks_in_use(KEYS[5]) end
  for _, r in ipairs(ranks) do
    for _, p in ipairs(phases) do lapsed = lapsed + lapsed_in(KEYS[4], r, p, now) end
  end
end
if total - lapsed <= 0 then return { 0, '', '' } end

-- rank (in descending order) of the first entry to examine
local start, skip = 0, 0
if ARGV[6] ~= '' then
  local cs = fmt(base + tonumber(ARGV[6]))
  if tonumber(cs) < lo or tonumber(cs) >= hi then
    fail('INVALID_ARGUMENT', 'the cursor does not belong to this status filter.')
  end
  start = redis.call('ZCOUNT', key, '(' .. cs, '+inf')
  local ties = redis.call('ZCOUNT', key, cs, cs)
  if ties > 0 then
    -- runs with the cursor's score are ordered by id descending: skip those >= the cursor id
    local a, b = start, start + ties
    while a < b do
      local mid = math.floor((a + b) / 2)
      local m = redis.call('ZRANGE', key, mid, mid, 'REV')[1]
      if bytes_lt(m, ARGV[7]) then b = mid else a = mid + 1 end
    end
    start = a
  end
else
  -- entries above the range (running runs, or runs of higher-ranked sources) come first
  if source ~= '' or hi < 2 * T then start = redis.call('ZCOUNT', key, fmt(hi), '+inf') end
  if lapsed == 0 then
    start = start + tonumber(ARGV[5])
  else
    skip = tonumber(ARGV[5])
  end
end

local out = { total - lapsed, '', '', fmt(base) }
if lapsed == 0 then
  -- fast path (no lapsed run in range): one range read of limit + 1 entries, passed through as
  -- Redis formatted them (no number formatting in Lua: it is the costly part of a page)
  local batch = redis.call('ZRANGE', key, start, start + limit, 'REV', 'WITHSCORES')
  local n = #batch / 2
  if n > 0 and tonumber(batch[n * 2]) < lo then
    local keep = 0
    for j = 1, n do
      if tonumber(batch[j * 2]) < lo then break end
      keep = j
    end
    n = keep
  end
  if n > limit then
    n = limit
    out[2] = batch[n * 2]
    out[3] = batch[n * 2 - 1]
  end
  if n == 0 then return out end
  local ids = {}
  for j = 1, n do ids[j] = batch[j * 2 - 1] end
  local values = redis.call('HMGET', KEYS[1], unpack(ids))
  local leases = redis.call('ZMSCORE', KEYS[4], unpack(ids))
  for j = 1, n do
    if not values[j] or not leases[j] then fail('INTERNAL', 'run ' .. ids[j] .. ' is indexed but has no data.') end
    out[#out + 1] = ids[j]
    out[#out + 1] = batch[j * 2]
    out[#out + 1] = values[j]
    out[#out + 1] = leases[j]
  end
  return out
end

-- slow path: skip lapsed runs (and, for offset paging, count the offset among live runs only)
local ids, scores, leases = {}, {}, {}
local budget = limit + 1 + skip + tonumber(ARGV[8])
local examined, more = 0, false
local last_score, last_id = '', ''
while true do
  local size = math.min(limit - #ids + 1 + skip + lapsed, 1000)
  local batch = redis.call('ZRANGE', key, start, start + size - 1, 'REV', 'WITHSCORES')
  if #batch == 0 then break end
  start = start + #batch / 2
  local batch_ids = {}
  for i = 1, #batch, 2 do batch_ids[#batch_ids + 1] = batch[i] end
  local batch_leases = redis.call('ZMSCORE', KEYS[4], unpack(batch_ids))
  local stop = false
  for j, id in ipairs(batch_ids) do
    local sc = batch[j * 2]
    if tonumber(sc) < lo then
      stop = true
      break
    end
    if #ids == limit or examined >= budget then
      more = true
      stop = true
      break
    end
    examined = examined + 1
    last_score, last_id = sc, id
    local _, _, deadline = decode_lease(tonumber(batch_leases[j]))
    if deadline > now then
      if skip > 0 then
        skip = skip - 1
      else
        ids[#ids + 1] = id
        scores[#ids] = sc
        leases[#ids] = batch_leases[j]
      end
    end
  end
  if stop or #batch < size * 2 then break end
end

if more then
  out[2] = last_score
  out[3] = last_id
end
if #ids > 0 then
  local values = redis.call('HMGET', KEYS[1], unpack(ids))
  for i, id in ipairs(ids) do
    if not values[i] then fail('INTERNAL', 'run ' .. id .. ' is indexed but has no data.') end
    out[#out + 1] = id
    out[#out + 1] = scores[i]
    out[#out + 1] = values[i]
    out[#out + 1] = leases[i]
  end
end
return out
`;
