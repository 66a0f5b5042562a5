/**
 * enqueue: adds a queued run; the same payload again returns the active run unchanged
 * (ioredis re-sends in-flight commands after a reconnect), a different one fails CONFLICT.
 *
 * KEYS: 1 runs, 2 index, 3 by-source, 4 lease, 5 meta, 6 registry
 * ARGV: 1 tag, 2 id, 3 leaseMs, 4 graceMs, 5 channel, 6 pubmode, 7 queuedAt|'', 8 source|'',
 *       9 captionJSON|'', 10 dataJSON|'', 11 maxSources
 * Returns: { value, leaseScore, created (1|0), runs in the scope after the call (-1: unchanged) }
 */
export const ENQUEUE = `
local id = ARGV[2]
local now = now_ms()
local source = ARGV[8]
local deadline = now + tonumber(ARGV[3])
local fields = { 'exp', 'lb', 'seq', 'c:queued', 'c:running' }
if source ~= '' then
  fields[6] = 'r:' .. source
  fields[7] = 's:' .. source
  fields[8] = 'rn'
end
local m = read_meta(fields)
local lower = must_lower(m, deadline)
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
local value = join_value(qs, '', fmt(deadline), source, ARGV[9], ARGV[10])
-- the first write: it also tells whether the id is already active
if redis.call('HSETNX', KEYS[1], id, value) == 0 then
  local existing = redis.call('HGET', KEYS[1], id)
  local eq, _, d, src, cap, data = split_value(existing)
  if tonumber(d) <= now then
    fail('CONFLICT', 'run ' .. id .. ' lapsed and waits for the sweeper; use a new id.')
  end
  if src ~= source or cap ~= ARGV[9] or data ~= ARGV[10] or (ARGV[7] ~= '' and eq ~= ARGV[7]) then
    fail('CONFLICT', 'run ' .. id .. ' is already active with a different payload; end it first or use a new id.')
  end
  return { existing, '', 0, -1 }
end
redis.call('ZADD', KEYS[2], qs, id)
local ls = fmt(rank * 2 * T + deadline)
redis.call('ZADD', KEYS[4], ls, id)
local seq = num(m.seq) + 1
local queued = num(m['c:queued']) + 1
local size = queued + num(m['c:running'])
local created = size == 1
local changes = { 'c:queued', queued, 'seq', seq }
if rank > 0 then
  redis.call('ZADD', KEYS[3], fmt(rank * 2 * T + q), id)
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
if lower then lower_registry(deadline, changes) end
redis.call('HSET', KEYS[5], unpack(changes))
keep_alive(deadline, tonumber(ARGV[4]), created, num(m.exp))
publish(ARGV[5], ARGV[6], 'queued', seq, id, ls, value)
return { value, ls, 1, size }
`;
