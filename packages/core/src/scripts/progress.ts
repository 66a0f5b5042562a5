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
local m = read_meta({ 'exp', 'lb', 'seq' })
local lower = must_lower(m, deadline)
if lower then check_zsets({ KEYS[6] }) end
local q, s, _, src, cap, data = split_value(value)
if ARGV[8] == '1' then cap = ARGV[9] end
if ARGV[10] == '1' then data = ARGV[11] end
value = join_value(q, s, fmt(deadline), src, cap, data)
redis.call('HSET', KEYS[1], id, value)
local nls = fmt((rank * 2 + phase) * T + deadline)
redis.call('ZADD', KEYS[4], nls, id)
local changes = {}
local seq = num(m.seq) + 1
if ARGV[7] == 'progress' then
  changes[1] = 'seq'
  changes[2] = seq
end
if lower then lower_registry(deadline, changes) end
if #changes > 0 then redis.call('HSET', KEYS[5], unpack(changes)) end
keep_alive(deadline, tonumber(ARGV[4]), false, num(m.exp))
if ARGV[7] == 'progress' then publish(ARGV[5], ARGV[6], 'progress', seq, id, nls, value) end
return { value, nls }
`;
