/**
 * list: one page of runs in one round trip, read-only (EVAL_RO-safe, can run on replicas).
 * Order: running runs by startedAt newest first, then queued runs by queuedAt newest first;
 * equal times by id, descending. Lapsed runs are skipped even before a sweep.
 *
 * The fast path (no lapsed run in range, the common case) reads ids by rank without scores and
 * their values in one HMGET: status and lease come from the value, so Redis formats one score
 * per page (the cursor's), not one per run.
 *
 * KEYS: 1 runs, 2 index, 3 by-source, 4 lease, 5 meta, 6 registry
 * ARGV: 1 tag, 2 status ('all'|'queued'|'running'), 3 source|'', 4 limit, 5 offset,
 *       6 cursor score relative to the source band|'', 7 cursor id, 8 extra entries the scan may
 *       examine past lapsed runs before it returns a short page with a cursor
 * Returns: { total, nextScore|'', nextId|'', base of the source band, then per run: id, value }
 *   (nextScore as Redis formats it; the cursor keeps nextScore - base)
 */
export const LIST = `
local now = now_ms()
local limit = tonumber(ARGV[4])
local key, base, rank, source = KEYS[2], 0, 0, ARGV[3]
local m = redis.call('HMGET', KEYS[5], 'lb', source ~= '' and ('r:' .. source) or 'lb')
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
if maybe_lapsed(m[1], now) then
  local ranks = { rank }
  if source == '' then ranks = ranks_in_use(KEYS[5]) end
  for _, r in ipairs(ranks) do
    for _, p in ipairs(phases) do lapsed = lapsed + lapsed_in(KEYS[4], r, p, now) end
  end
end
if total - lapsed <= 0 then return { 0, '', '' } end

-- ranks in descending order: entries above the range (running runs, or runs of higher-ranked
-- sources) come first, then the range itself up to last
local above = 0
if source ~= '' or hi < 2 * T then above = redis.call('ZCOUNT', key, fmt(hi), '+inf') end
local last = above + total - 1
local start, skip = above, 0
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
      local member = redis.call('ZRANGE', key, mid, mid, 'REV')[1]
      if bytes_lt(member, ARGV[7]) then b = mid else a = mid + 1 end
    end
    start = a
  end
elseif lapsed == 0 then
  start = start + tonumber(ARGV[5])
else
  skip = tonumber(ARGV[5])
end

local out = { total - lapsed, '', '', fmt(base) }
if start > last then return out end

if lapsed == 0 then
  local stop = math.min(start + limit - 1, last)
  local ids = redis.call('ZRANGE', key, start, stop, 'REV')
  if #ids == 0 then return out end
  if stop < last then
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

-- slow path: skip lapsed runs (and, for offset paging, count the offset among live runs only),
-- examining at most budget entries before returning a short page with a cursor
local budget = limit + 1 + skip + tonumber(ARGV[8])
local examined, found = 0, 0
local last_id = nil
while start <= last and found < limit and examined < budget do
  local stop = math.min(start + math.min(limit - found + skip + lapsed, 1000) - 1, last)
  local ids = redis.call('ZRANGE', key, start, stop, 'REV')
  if #ids == 0 then break end
  start = start + #ids
  local values = redis.call('HMGET', KEYS[1], unpack(ids))
  for j = 1, #ids do
    if found == limit or examined >= budget then
      start = start - (#ids - j + 1)
      break
    end
    examined = examined + 1
    last_id = ids[j]
    if not values[j] then fail('INTERNAL', 'run ' .. ids[j] .. ' is indexed but has no data.') end
    if value_deadline(values[j]) > now then
      if skip > 0 then
        skip = skip - 1
      else
        found = found + 1
        out[#out + 1] = ids[j]
        out[#out + 1] = values[j]
      end
    end
  end
end
if start <= last and last_id then
  out[2] = redis.call('ZSCORE', key, last_id)
  out[3] = last_id
end
return out
`;
