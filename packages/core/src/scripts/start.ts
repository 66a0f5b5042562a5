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
local value = load_value(id)
local q, s, lapse_at, src, cap, data, fp = split_value(value)
local fields = { 'exp', 'lb', 'seq', 'c:queued', 'c:running', 'hw' }
if src ~= '' then fields[7] = 'r:' .. src end
local m = read_meta(fields)
local now = scope_now(m.hw)
check_live(id, tonumber(lapse_at), now, m.hw)
if s ~= '' then
  if ARGV[7] ~= '' and ARGV[7] ~= s then
    fail('CONFLICT', 'run ' .. id .. ' is already running since ' .. s .. '.')
  end
  return { value, '', 0 }
end
local rank = source_rank(m, id, src)
local deadline = now + tonumber(ARGV[3])
local lower = must_lower(m, deadline)
local zsets = { KEYS[2] }
if rank > 0 then zsets[#zsets + 1] = KEYS[3] end
if lower then zsets[#zsets + 1] = KEYS[6] end
check_zsets(zsets)
-- the first write (the phase changes, so the score always does)
local nls = fmt(rank * 2 * T + T + deadline)
if redis.call('ZADD', KEYS[4], 'XX', 'CH', nls, id) == 0 then no_lease(id) end
local started = now
if ARGV[7] ~= '' then started = tonumber(ARGV[7]) end
value = join_value(q, fmt(started), fmt(deadline), src, cap, data, fp)
redis.call('HSET', KEYS[1], id, value)
redis.call('ZADD', KEYS[2], fmt(T + started), id)
if rank > 0 then redis.call('ZADD', KEYS[3], fmt(rank * 2 * T + T + started), id) end
local seq = num(m.seq) + 1
local changes = {
  'c:queued', num(m['c:queued']) - 1, 'c:running', num(m['c:running']) + 1, 'seq', seq,
  'hw', fmt(now),
}
if lower then lower_registry(deadline, changes) end
redis.call('HSET', KEYS[5], unpack(changes))
keep_alive(deadline, tonumber(ARGV[4]), false, num(m.exp))
publish(ARGV[5], ARGV[6], 'started', seq, id, nls, value)
return { value, nls, 1 }
`;
