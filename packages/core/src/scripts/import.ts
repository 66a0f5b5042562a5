/**
 * import: inserts a batch of runs with explicit times and lease deadlines (the legacy backfill and
 * the rollout store's copy-on-write), keeping every structure of the scope consistent exactly as
 * enqueue + start do: runs hash, index, by-source set and source ranks, lease set, meta counters,
 * sequence and time high-water mark, registry bound, key expiry, one event per inserted run
 * (`queued`, or `started` for a run with a startedAt; published only while someone listens, as
 * the other scripts do). It never overwrites an id the scope already has, live or lapsed and not
 * swept yet (the new layout is authoritative and may be newer; a lapsed run is the sweeper's to
 * report), and never brings back a run that ended or expired during the rollout (its id is in the
 * tombstone set, or a report of it waits in the sweeper's outbox). Bounded: it stops after
 * `budgetMs` of Redis time and says how many runs it processed; the caller sends the rest.
 *
 * The outbox is keyed by report (`id:deadline`), so a pending report of an id cannot be looked up
 * by the id alone: the first run that needs the check reads the outbox's report names once (HKEYS,
 * only while it holds at most IMPORT_OUTBOX_CHECK_MAX of them). An outbox holding more (its hook keeps failing) is too large
 * to read within a call: a run that only that check could decide gets status 6 and the call
 * stops there, writing what it decided before.
 *
 * KEYS: 1 runs, 2 index, 3 by-source, 4 lease, 5 meta, 6 registry, 7 outbox (sweeper's),
 *       8 tombstones (ZSET: ids ended during the rollout), 9 migration state (HASH)
 * ARGV: 1 tag, 2 graceMs, 3 channel, 4 pubmode, 5 maxSources, 6 mode ('write' | 'check': decide
 *       only, write nothing), 7 budgetMs (0: none), 8 checkpoint|'' (stored as the state's
 *       `cursor` field once every run of the call is decided and none got status 6, so a resumed
 *       backfill continues after it), then 7 per run from 9: id, queuedAt, startedAt|'',
 *       leaseDeadline, source|'', captionJSON|'', dataJSON|''
 * Returns: { processed, then a status per processed run }: 1 inserted (check: would be),
 *   0 already in the scope (live, or lapsed and not swept yet; or earlier in the batch), 2 ended
 *   during the rollout (tombstone), 3 lapsed (deadline <= the scope's clock), 4 no source rank left
 *   (the scope has maxSources distinct sources), 5 expired (a report of the id waits in the
 *   outbox), 6 not decided: the outbox is too large to check (the last status of a reply)
 */
/** Most reports the import reads from a scope's outbox to check its runs against them. */
export const IMPORT_OUTBOX_CHECK_MAX = 1_000;

export const IMPORT = `
local OUTBOX_CHECK_MAX = ${IMPORT_OUTBOX_CHECK_MAX}
local started_at = now_ms()
local write = ARGV[6] == 'write'
local budget = tonumber(ARGV[7])
local n = (#ARGV - 8) / 7
if n < 1 or n ~= math.floor(n) then
  fail('INVALID_ARGUMENT', 'import takes 7 arguments per run.')
end
-- check every argument and the type of every key before the first write
local ids, fields, seen = {}, { 'exp', 'lb', 'seq', 'c:queued', 'c:running', 'rn', 'hw' }, {}
for i = 1, n do
  local b = 9 + (i - 1) * 7
  ids[i] = ARGV[b]
  local s = ARGV[b + 2]
  if not tonumber(ARGV[b + 1]) or not tonumber(ARGV[b + 3]) or (s ~= '' and not tonumber(s)) then
    fail('INVALID_ARGUMENT', 'import: run ' .. ARGV[b] .. ' has a time that is not a number.')
  end
  local src = ARGV[b + 4]
  if src ~= '' and not seen[src] then
    seen[src] = true
    fields[#fields + 1] = 'r:' .. src
    fields[#fields + 1] = 's:' .. src
  end
end
local m = read_meta(fields)
-- the scope's clock: a run whose deadline the scope has passed is lapsed, even after a failover
-- to a node whose clock is behind
local now = scope_now(m.hw)
redis.call('HLEN', KEYS[1])
redis.call('HLEN', KEYS[9])
local outbox_size = redis.call('HLEN', KEYS[7])
check_zsets({ KEYS[2], KEYS[3], KEYS[4], KEYS[6], KEYS[8] })
local tombs = {}
if redis.call('EXISTS', KEYS[8]) == 1 then tombs = redis.call('ZMSCORE', KEYS[8], unpack(ids)) end
-- events only while someone listens (one check per call; publish checks again while one does)
local pubmode = ARGV[4]
if write and pubmode ~= '0' then
  local numsub = redis.call('PUBSUB', pubmode == '2' and 'SHARDNUMSUB' or 'NUMSUB', ARGV[3])
  if numsub[2] == 0 then pubmode = '0' end
end

-- ids with a report in the outbox, read once, on first need (reports are named id:deadline)
local pending = nil
local function report_pending(id)
  if outbox_size == 0 then return false end
  if not pending then
    pending = {}
    -- names only (values hold whole runs); bounded: only called while the outbox is this small
    for _, name in ipairs(redis.call('HKEYS', KEYS[7])) do
      local at = string.find(name, ':', 1, true)
      pending[at and string.sub(name, 1, at - 1) or name] = true
    end
  end
  return pending[id] == true
end
local outbox_checkable = outbox_size <= OUTBOX_CHECK_MAX

-- source ranks: known ones from meta, new ones allocated in memory as enqueue does
local max_sources = tonumber(ARGV[5])
local rn = num(m.rn)
local ranks, taken, new_sources = {}, {}, {}
for src in pairs(seen) do
  if m['r:' .. src] then ranks[src] = tonumber(m['r:' .. src]) end
end
local function rank_of(src)
  if ranks[src] then return ranks[src] end
  local r = nil
  if rn < max_sources then
    rn = rn + 1
    r = rn
  else
    for k = 1, max_sources do
      if not taken[k] and redis.call('HEXISTS', KEYS[5], 'k:' .. k) == 0 then
        r = k
        break
      end
    end
    if not r then return nil end
  end
  taken[r] = true
  ranks[src] = r
  new_sources[#new_sources + 1] = src
  return r
end

local out = { 0 }
local values, idx, lease, by_src, events = {}, {}, {}, {}, {}
local added = { queued = 0, running = 0, events = 0 }
local per_source = {}
local min_deadline, max_deadline = nil, nil
local in_batch = {}
local seq = num(m.seq)
local undecided = false
-- writes the runs decided so far (multi-member calls) and publishes their events
local function flush()
  if write and #values > 0 then
    redis.call('HSET', KEYS[1], unpack(values))
    redis.call('ZADD', KEYS[2], unpack(idx))
    redis.call('ZADD', KEYS[4], unpack(lease))
    if #by_src > 0 then redis.call('ZADD', KEYS[3], unpack(by_src)) end
    for _, e in ipairs(events) do
      seq = seq + 1
      publish(ARGV[3], pubmode, e[1], seq, e[2], e[3], e[4])
    end
  end
  values, idx, lease, by_src, events = {}, {}, {}, {}, {}
end
for i = 1, n do
  -- the budget covers the writes: they are flushed every 16 runs, then the clock is read
  if i % 16 == 1 and i > 1 then
    flush()
    if budget > 0 and now_ms() - started_at >= budget then break end
  end
  local b = 9 + (i - 1) * 7
  local id, src = ARGV[b], ARGV[b + 4]
  local d = tonumber(ARGV[b + 3])
  local status = 1
  local rank = 0
  if in_batch[id] or redis.call('HEXISTS', KEYS[1], id) == 1 then
    status = 0
  elseif outbox_checkable and report_pending(id) then
    status = 5
  elseif tombs[i] then
    status = 2
  elseif d <= now then
    status = 3
  elseif not outbox_checkable then
    status = 6
  elseif src ~= '' then
    rank = rank_of(src)
    if not rank then status = 4 end
  end
  if status == 1 then
    in_batch[id] = true
    local q, s = fmt(tonumber(ARGV[b + 1])), ARGV[b + 2]
    local phase, t = 0, tonumber(q)
    if s ~= '' then
      s = fmt(tonumber(s))
      phase, t = 1, tonumber(s)
    end
    local value = join_value(q, s, fmt(d), src, ARGV[b + 5], ARGV[b + 6])
    local ls = fmt((rank * 2 + phase) * T + d)
    values[#values + 1] = id
    values[#values + 1] = value
    idx[#idx + 1] = fmt(phase * T + t)
    idx[#idx + 1] = id
    lease[#lease + 1] = ls
    lease[#lease + 1] = id
    if rank > 0 then
      by_src[#by_src + 1] = fmt((rank * 2 + phase) * T + t)
      by_src[#by_src + 1] = id
      per_source[src] = (per_source[src] or 0) + 1
    end
    if phase == 1 then added.running = added.running + 1 else added.queued = added.queued + 1 end
    added.events = added.events + 1
    if not min_deadline or d < min_deadline then min_deadline = d end
    if not max_deadline or d > max_deadline then max_deadline = d end
    events[#events + 1] = { phase == 1 and 'started' or 'queued', id, ls, value }
  end
  out[#out + 1] = status
  out[1] = i
  if status == 6 then
    undecided = true
    break
  end
end
flush()

if write and added.events > 0 then
  -- keys created by this call get their expiry even when no deadline passes the current one
  local created = num(m['c:queued']) + num(m['c:running']) == 0
  local changes = {
    'c:queued', num(m['c:queued']) + added.queued,
    'c:running', num(m['c:running']) + added.running,
    'seq', seq,
    'hw', fmt(now),
  }
  for src, k in pairs(per_source) do
    if num(m['s:' .. src]) == 0 then created = true end
    changes[#changes + 1] = 's:' .. src
    changes[#changes + 1] = num(m['s:' .. src]) + k
  end
  for _, src in ipairs(new_sources) do
    changes[#changes + 1] = 'r:' .. src
    changes[#changes + 1] = ranks[src]
    changes[#changes + 1] = 'k:' .. ranks[src]
    changes[#changes + 1] = src
  end
  if #new_sources > 0 then
    changes[#changes + 1] = 'rn'
    changes[#changes + 1] = rn
  end
  if must_lower(m, min_deadline) then lower_registry(min_deadline, changes) end
  redis.call('HSET', KEYS[5], unpack(changes))
  keep_alive(max_deadline, tonumber(ARGV[2]), created, num(m.exp))
end
if write and ARGV[8] ~= '' and out[1] == n and not undecided then
  redis.call('HSET', KEYS[9], 'cursor', ARGV[8])
end
return out
`;
