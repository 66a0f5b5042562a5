/**
 * enqueue: adds a queued run; the same payload again returns the active run unchanged
 * (ioredis re-sends in-flight commands after a reconnect), a different one fails CONFLICT.
 *
 * KEYS: 1 runs, 2 index, 3 by-source, 4 lease, 5 meta, 6 registry
 * ARGV: 1 tag, 2 id, 3 leaseMs, 4 graceMs, 5 channel, 6 pubmode, 7 queuedAt|'', 8 source|'',
 *       9 captionJSON|'', 10 dataJSON|'', 11 maxSources
 * Returns: { value, leaseScore, created (1|0), runs in the scope after the call }
 */
export const ENQUEUE = `
local id = ARGV[2]
local now = now_ms()
local existing = redis.call('HGET', KEYS[1], id)
if existing then
  local q, _, d, src, cap, data = split_value(existing)
  if tonumber(d) <= now then
    fail('CONFLICT', 'run ' .. id .. ' lapsed and waits for the sweeper; use a new id.')
  end
  if src ~= ARGV[8] or cap ~= ARGV[9] or data ~= ARGV[10] or (ARGV[7] ~= '' and q ~= ARGV[7]) then
    fail('CONFLICT', 'run ' .. id .. ' is already active with a different payload; end it first or use a new id.')
  end
  return { existing, '', 0, redis.call('HLEN', KEYS[1]) }
end

local source = ARGV[8]
local deadline = now + tonumber(ARGV[3])
local zsets = { KEYS[2], KEYS[4] }
if source ~= '' then zsets[3] = KEYS[3] end
local exp, lower, r = preflight(zsets, deadline, source ~= '' and ('r:' .. source) or nil)
local rank = 0
if source ~= '' then
  if r then
    rank = tonumber(r)
  else
    -- allocate a rank before any write, so running out of ranks writes nothing
    local max = tonumber(ARGV[11])
    local next_rank = tonumber(redis.call('HGET', KEYS[5], 'rn') or '0') + 1
    if next_rank <= max then
      rank = next_rank
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
    redis.call('HSET', KEYS[5], 'r:' .. source, rank, 'k:' .. rank, source, 'rn', math.max(rank, next_rank - 1))
  end
end

local q = now
if ARGV[7] ~= '' then q = tonumber(ARGV[7]) end
local qs = fmt(q)
local value = join_value(qs, '', fmt(deadline), source, ARGV[9], ARGV[10])
redis.call('HSET', KEYS[1], id, value)
local size = redis.call('HLEN', KEYS[1])
local created_keys = size == 1
redis.call('ZADD', KEYS[2], qs, id)
if rank > 0 then
  redis.call('ZADD', KEYS[3], fmt(rank * 2 * T + q), id)
  if incr('s:' .. source, 1) == 1 and redis.call('ZCARD', KEYS[3]) == 1 then created_keys = true end
end
local ls = fmt(rank * 2 * T + deadline)
redis.call('ZADD', KEYS[4], ls, id)
incr('c:queued', 1)
keep_alive(deadline, tonumber(ARGV[4]), created_keys, exp)
if lower then lower_registry(deadline) end
publish(ARGV[5], ARGV[6], 'queued', id, ls, value)
return { value, ls, 1, size }
`;
