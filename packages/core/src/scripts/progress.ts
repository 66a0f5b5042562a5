/**
 * progress / heartbeat: renews the lease and, for progress, replaces caption and/or data.
 * Never brings back a run that ended or lapsed (NOT_FOUND). Applying it twice is harmless.
 *
 * KEYS: 1 runs, 2 index, 3 by-source, 4 lease, 5 meta, 6 registry
 * ARGV: 1 tag, 2 id, 3 leaseMs, 4 graceMs, 5 channel, 6 pubmode, 7 kind ('progress'|'heartbeat'),
 *       8 setCaption ('1'|'0'), 9 captionJSON|'', 10 setData ('1'|'0'), 11 dataJSON|''
 * Returns: { value, leaseScore }
 */
export const PROGRESS = `
local id = ARGV[2]
local now = now_ms()
local value, _, rank, phase = load_active(id, now)
local deadline = now + tonumber(ARGV[3])
local exp, lower = preflight({}, deadline)
local q, s, _, src, cap, data = split_value(value)
if ARGV[8] == '1' then cap = ARGV[9] end
if ARGV[10] == '1' then data = ARGV[11] end
value = join_value(q, s, fmt(deadline), src, cap, data)
redis.call('HSET', KEYS[1], id, value)
local nls = fmt((rank * 2 + phase) * T + deadline)
redis.call('ZADD', KEYS[4], nls, id)
keep_alive(deadline, tonumber(ARGV[4]), false, exp)
if lower then lower_registry(deadline) end
if ARGV[7] == 'progress' then publish(ARGV[5], ARGV[6], 'progress', id, nls, value) end
return { value, nls }
`;
