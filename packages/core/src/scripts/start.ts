/**
 * start: moves a queued run to running and renews its lease. Starting a running run again
 * returns it unchanged (safe to re-send); with a different explicit startedAt it fails CONFLICT.
 *
 * KEYS: 1 runs, 2 index, 3 by-source, 4 lease, 5 meta, 6 registry
 * ARGV: 1 tag, 2 id, 3 leaseMs, 4 graceMs, 5 channel, 6 pubmode, 7 startedAt|''
 * Returns: { value, leaseScore, changed (1|0) }
 */
export const START = `
local id = ARGV[2]
local now = now_ms()
local value, ls, rank, phase = load_active(id, now)
local q, s, _, src, cap, data = split_value(value)
if phase == 1 then
  if ARGV[7] ~= '' and ARGV[7] ~= s then
    fail('CONFLICT', 'run ' .. id .. ' is already running since ' .. s .. '.')
  end
  return { value, '', 0 }
end
local deadline = now + tonumber(ARGV[3])
local zsets = { KEYS[2] }
if rank > 0 then zsets[2] = KEYS[3] end
local exp, lower = preflight(zsets, deadline)
local started = now
if ARGV[7] ~= '' then started = tonumber(ARGV[7]) end
value = join_value(q, fmt(started), fmt(deadline), src, cap, data)
redis.call('HSET', KEYS[1], id, value)
redis.call('ZADD', KEYS[2], fmt(T + started), id)
if rank > 0 then redis.call('ZADD', KEYS[3], fmt(rank * 2 * T + T + started), id) end
local nls = fmt(rank * 2 * T + T + deadline)
redis.call('ZADD', KEYS[4], nls, id)
incr('c:queued', -1)
incr('c:running', 1)
keep_alive(deadline, tonumber(ARGV[4]), false, exp)
if lower then lower_registry(deadline) end
publish(ARGV[5], ARGV[6], 'started', id, nls, value)
return { value, nls, 1 }
`;
