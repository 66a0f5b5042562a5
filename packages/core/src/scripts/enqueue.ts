/**
 * enqueue: adds a queued run, or (start) a running one in the same step. The same request again returns the active run unchanged (ioredis
 * re-sends in-flight commands after a reconnect), even after progress changed its caption or
 * data (the value keeps a fingerprint of the ones it was enqueued with); a different payload
 * fails CONFLICT; so does a start for a run found queued (enqueued without start: a different
 * request) or found running since another explicit startedAt. An id whose run lapsed but was not swept yet is reported (the run goes to the
 * sweeper's outbox, due at once, with its `expired` event) and replaced by the new run.
 *
 * KEYS: 1 runs, 2 index, 3 by-source, 4 lease, 5 meta, 6 registry, 7 outbox, 8 outbox schedule
 * ARGV: 1 tag, 2 id, 3 leaseMs, 4 graceMs, 5 channel, 6 pubmode, 7 queuedAt|'', 8 source|'',
 *       9 captionJSON|'', 10 dataJSON|'', 11 maxSources, 12 outboxTtlMs, 13 start ('1'|''),
 *       14 startedAt|''
 * Returns: { value of the run found ('' when this call added it: the caller knows the rest),
 *   runs in the scope after the call (-1: unchanged), queuedAt, startedAt|'', leaseDeadline }
 * Events: \`queued\`, or (start) \`queued\` then \`started\`, each with its own sequence number, so
 * a viewer sees the same changes as after enqueue + start.
 */
export const ENQUEUE = `
local id = ARGV[2]
local source = ARGV[8]
local start = ARGV[13] == '1'
local fields = { 'exp', 'lb', 'seq', 'c:queued', 'c:running', 'hw' }
if source ~= '' then
  fields[7] = 'r:' .. source
  fields[8] = 's:' .. source
  fields[9] = 'rn'
end
local m = read_meta(fields)
local now = scope_now(m.hw)
local deadline = now + tonumber(ARGV[3])
-- the registry score to lower to: the new deadline, or now when a lapsed run is replaced
local visit = deadline
local lower = must_lower(m, visit)
local zsets = { KEYS[2], KEYS[4] }
if source ~= '' then zsets[#zsets + 1] = KEYS[3] end
if lower then zsets[#zsets + 1] = KEYS[6] end
check_zsets(zsets)

-- the source's rank, allocated (in memory) before any write, so running out writes nothing
local rank, new_rank, rn = 0, false, num(m.rn)
if source ~= '' then
  if m['r:' .. source] then
    rank = tonumber(m['r:' .. source])
  else
    local max = tonumber(ARGV[11])
    if rn < max then
      rn = rn + 1
      rank = rn
    else
      for i = 1, max do
        if redis.call('HEXISTS', KEYS[5], 'k:' .. i) == 0 then
          rank = i
          break
        end
      end
      if rank == 0 then
        fail('CONFLICT', 'this scope already holds runs of ' .. max .. ' distinct sources; source must be a low-cardinality label (a source is freed when its last run ends).')
      end
    end
    new_rank = true
  end
end

local q = now
if ARGV[7] ~= '' then q = tonumber(ARGV[7]) end
local qs = fmt(q)
local ss, phase_t = '', q
if start then
  phase_t = now
  if ARGV[14] ~= '' then phase_t = tonumber(ARGV[14]) end
  ss = fmt(phase_t)
end
-- phase * T of the index scores: running runs sort above queued ones
local band = start and T or 0
local ds = fmt(deadline)
local value = join_value(qs, ss, ds, source, ARGV[9], ARGV[10])
local seq = num(m.seq)
local replaced = false
-- the first write: it also tells whether the id is already in Redis
if redis.call('HSETNX', KEYS[1], id, value) == 0 then
  local existing = redis.call('HGET', KEYS[1], id)
  local eq, es, d, src, cap, data, fp = split_value(existing)
  if tonumber(d) > now then
    local same = cap == ARGV[9] and data == ARGV[10]
    if fp ~= '' then same = fingerprint(ARGV[9], ARGV[10]) == fp end
    if src ~= source or not same or (ARGV[7] ~= '' and eq ~= ARGV[7]) then
      fail('CONFLICT', 'run ' .. id .. ' is already active with a different payload; end it first or use a new id.')
    end
    if start and es == '' then
      fail('CONFLICT', 'run ' .. id .. ' is already queued (enqueued without start); start it with start.')
    end
    if start and ARGV[14] ~= '' and es ~= ARGV[14] then
      fail('CONFLICT', 'run ' .. id .. ' is already running since ' .. es .. '.')
    end
    return { existing, -1, '', '', '' }
  end
  -- The id lapsed and no sweep removed it yet: report it as a sweep would (its report waits in
  -- the outbox, due now) and take its place. Nothing was written so far: check types first.
  local ols = redis.call('ZSCORE', KEYS[4], id)
  if not ols then fail('INTERNAL', 'run ' .. id .. ' has data but no lease entry.') end
  local orank, ophase, odeadline = decode_lease(tonumber(ols))
  check_zsets({ KEYS[3], KEYS[6], KEYS[8] })
  redis.call('HLEN', KEYS[7])
  local status = ophase == 1 and 'c:running' or 'c:queued'
  m[status] = num(m[status]) - 1
  if orank > 0 then
    redis.call('ZREM', KEYS[3], id)
    if src == source then
      m['s:' .. source] = num(m['s:' .. source]) - 1
    elseif incr('s:' .. src, -1) <= 0 then
      redis.call('HDEL', KEYS[5], 'r:' .. src, 'k:' .. orank)
    end
  end
  replaced = true
  local report = id .. ':' .. fmt(odeadline)
  redis.call('HSET', KEYS[7], report, '\\n0\\n' .. fmt(ols) .. '\\n' .. existing)
  redis.call('ZADD', KEYS[8], fmt(now), report)
  seq = seq + 1
  publish(ARGV[5], ARGV[6], 'expired', seq, id, fmt(ols), existing)
  redis.call('HSET', KEYS[1], id, value)
  -- the sweeper visits the scope now
  visit = now
  lower = must_lower(m, visit)
  keep_outbox(now, tonumber(ARGV[12]))
end
redis.call('ZADD', KEYS[2], fmt(band + phase_t), id)
local ls = fmt(rank * 2 * T + band + deadline)
redis.call('ZADD', KEYS[4], ls, id)
-- one event (queued), or two (queued, started)
seq = seq + (start and 2 or 1)
local st = start and 'c:running' or 'c:queued'
m[st] = num(m[st]) + 1
local size = num(m['c:queued']) + num(m['c:running'])
local created = size == 1
local changes = { st, m[st], 'seq', seq, 'hw', fmt(now) }
if replaced then
  -- the replaced run's status, when it is not the new one's
  local other = start and 'c:queued' or 'c:running'
  changes[#changes + 1] = other
  changes[#changes + 1] = num(m[other])
end
if rank > 0 then
  redis.call('ZADD', KEYS[3], fmt(rank * 2 * T + band + phase_t), id)
  local n = num(m['s:' .. source]) + 1
  if n == 1 then created = true end
  changes[#changes + 1] = 's:' .. source
  changes[#changes + 1] = n
  if new_rank then
    changes[#changes + 1] = 'r:' .. source
    changes[#changes + 1] = rank
    changes[#changes + 1] = 'k:' .. rank
    changes[#changes + 1] = source
    changes[#changes + 1] = 'rn'
    changes[#changes + 1] = rn
  end
end
if lower then lower_registry(visit, changes) end
redis.call('HSET', KEYS[5], unpack(changes))
keep_alive(deadline, tonumber(ARGV[4]), created, num(m.exp))
if start then
  if has_listeners(ARGV[5], ARGV[6]) then
    local queued = join_value(qs, '', ds, source, ARGV[9], ARGV[10])
    send_event(ARGV[5], ARGV[6], 'queued', seq - 1, id, fmt(rank * 2 * T + deadline), queued)
    send_event(ARGV[5], ARGV[6], 'started', seq, id, ls, value)
  end
else
  publish(ARGV[5], ARGV[6], 'queued', seq, id, ls, value)
end
return { '', size, qs, ss, ds }
`;
