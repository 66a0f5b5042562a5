/**
 * list: one page of runs in one round trip, read-only (EVAL_RO-safe, can run on replicas).
 * Order: running runs by startedAt newest first, then queued runs by queuedAt newest first;
 * equal times by id, descending. Lapsed runs are skipped even before a sweep.
 *
 * The fast path (no lapsed run in range, the common case) reads ids by rank without scores and
 * their values in one HMGET: status and lease come from the value, so Redis formats one score
 * per page (the cursor's), not one per run.
 *
 * With lapsed runs in range, lapse is decided from the lease set, never from values, and values
 * are read for the rows of the page only: with up to `budget` lapsed runs, their positions
 * (ZREVRANK each) tell where the page starts; with more, the script steps over at most `budget`
 * extra entries (ZMSCORE on the lease set) and may return a short page with a cursor.
 *
 * KEYS: 1 runs, 2 index, 3 by-source, 4 lease, 5 meta, 6 registry
 * ARGV: 1 tag, 2 status ('all'|'queued'|'running'), 3 source|'', 4 limit, 5 offset,
 *       6 cursor score relative to the source band|'', 7 cursor id, 8 budget (see above)
 * Returns: { total, nextScore|'', nextId|'', base of the source band, then per run: id, value }
 *   (nextScore as Redis formats it; the cursor keeps nextScore - base)
 */
export const LIST = `
local limit = tonumber(ARGV[4])
local key, base, rank, source = KEYS[2], 0, 0, ARGV[3]
local m = redis.call('HMGET', KEYS[5], 'lb', source ~= '' and ('r:' .. source) or 'lb', 'hw')
local now = scope_now(m[3])
if source ~= '' then
  if not m[2] then return { 0, '', '' } end
  rank = tonumber(m[2])
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
if total == 0 then return { 0, '', '' } end
local lapsed = 0
local bands = {}
if maybe_lapsed(m[1], now) then
  local ranks = { rank }
  if source == '' then ranks = ranks_in_use(KEYS[5]) end
  for _, r in ipairs(ranks) do
    for _, p in ipairs(phases) do
      local n = lapsed_in(KEYS[4], r, p, now)
      if n > 0 then
        lapsed = lapsed + n
        bands[#bands + 1] = (r * 2 + p) * T
      end
    end
  end
end
if total - lapsed <= 0 then return { 0, '', '' } end

-- ranks in descending order: entries above the range (running runs, or runs of higher-ranked
-- sources) come first, then the range itself up to last
local above = 0
if source ~= '' or hi < 2 * T then above = redis.call('ZCOUNT', key, fmt(hi), '+inf') end
local last = above + total - 1
local start, skip = above, tonumber(ARGV[5])
if ARGV[6] ~= '' then
  skip = 0
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
      local member = redis.call('ZRANGE', key, mid, mid, 'REV')[1]
      if bytes_lt(member, ARGV[7]) then b = mid else a = mid + 1 end
    end
    start = a
  end
end

local out = { total - lapsed, '', '', fmt(base) }
-- appends the values of ids to out; the cursor points after the last one if more follow
local function emit(ids, more)
  if #ids == 0 then return out end
  if more then
    out[2] = redis.call('ZSCORE', key, ids[#ids])
    out[3] = ids[#ids]
  end
  local values = redis.call('HMGET', KEYS[1], unpack(ids))
  for j = 1, #ids do
    if not values[j] then fail('INTERNAL', 'run ' .. ids[j] .. ' is indexed but has no data.') end
    out[#out + 1] = ids[j]
    out[#out + 1] = values[j]
  end
  return out
end

if lapsed == 0 then
  start = start + skip
  if start > last then return out end
  local stop = math.min(start + limit - 1, last)
  return emit(redis.call('ZRANGE', key, start, stop, 'REV'), stop < last)
end

local budget = tonumber(ARGV[8])
if lapsed <= budget then
  -- the lapsed runs' positions, ascending
  local gone, at = {}, {}
  for _, b in ipairs(bands) do
    for _, id in ipairs(redis.call('ZRANGE', KEYS[4], fmt(b), fmt(b + now), 'BYSCORE')) do
      gone[id] = true
      local pos = redis.call('ZREVRANK', key, id)
      if not pos then fail('INTERNAL', 'run ' .. id .. ' has a lease but is not indexed.') end
      at[#at + 1] = pos
    end
  end
  table.sort(at)
  -- the first live position past skip live runs from start
  local p = start + skip
  for _, pos in ipairs(at) do
    if pos >= start then
      if pos <= p then p = p + 1 else break end
    end
  end
  if p > last then return out end
  -- live runs from p: the page, and whether any follows it
  local ids, stop = {}, p - 1
  while #ids < limit and stop < last do
    local batch = redis.call('ZRANGE', key, stop + 1, math.min(stop + limit - #ids + 16, last), 'REV')
    if #batch == 0 then break end
    for _, id in ipairs(batch) do
      stop = stop + 1
      if not gone[id] then
        ids[#ids + 1] = id
        if #ids == limit then break end
      end
    end
  end
  local behind = 0
  for _, pos in ipairs(at) do
    if pos > stop then behind = behind + 1 end
  end
  return emit(ids, last - stop > behind)
end

-- more lapsed runs than the budget: step over at most budget + skip + limit entries, reading
-- their deadlines from the lease set, then return what was found (with a cursor to go on)
local cap = limit + 1 + skip + budget
local examined, ids, last_id = 0, {}, nil
while start <= last and #ids < limit and examined < cap do
  local stop = math.min(start + math.min(cap - examined, 1000) - 1, last)
  local batch = redis.call('ZRANGE', key, start, stop, 'REV')
  if #batch == 0 then break end
  local scores = redis.call('ZMSCORE', KEYS[4], unpack(batch))
  local used = 0
  for j = 1, #batch do
    if #ids == limit then break end
    used = j
    examined = examined + 1
    last_id = batch[j]
    if not scores[j] then fail('INTERNAL', 'run ' .. batch[j] .. ' is indexed but has no lease.') end
    local _, _, d = decode_lease(tonumber(scores[j]))
    if d > now then
      if skip > 0 then skip = skip - 1 else ids[#ids + 1] = batch[j] end
    end
  end
  start = start + used
end
local more = start <= last and last_id ~= nil
emit(ids, false)
if more then
  out[2] = redis.call('ZSCORE', key, last_id)
  out[3] = last_id
end
return out
`;
