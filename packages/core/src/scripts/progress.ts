/**
 * progress / heartbeat: renews the lease and, for progress, replaces caption and/or data.
 * Never brings back a run that ended or lapsed (NOT_FOUND). Applying it twice is harmless.
 *
 * The first progress that changes the caption or data stores a fingerprint of the original ones
 * in the value, so an enqueue re-sent after it is still recognised as the same request.
 * A heartbeat publishes a short `heartbeat` event (the new lease deadline, not the run) that does
 * not advance the scope's event sequence: it changes nothing a viewer could have missed but that.
 *
 * KEYS: 1 runs, 2 index, 3 by-source, 4 lease, 5 meta, 6 registry
 * ARGV: 1 tag, 2 id, 3 leaseMs, 4 graceMs, 5 channel, 6 pubmode, 7 kind ('progress'|'heartbeat'),
 *       8 setCaption ('1'|'0'), 9 captionJSON|'', 10 setData ('1'|'0'), 11 dataJSON|''
 * Returns: { value, leaseScore }
 */
export const PROGRESS = `
local id = ARGV[2]
local value = load_value(id)
local q, s, lapse_at, src, cap, data, fp = split_value(value)
local fields = { 'exp', 'lb', 'seq', 'hw' }
if src ~= '' then fields[5] = 'r:' .. src end
local m = read_meta(fields)
local now = scope_now(m.hw)
check_live(id, tonumber(lapse_at), now, m.hw)
local rank = source_rank(m, id, src)
local phase = s == '' and 0 or 1
local deadline = now + tonumber(ARGV[3])
local lower = must_lower(m, deadline)
if lower then check_zsets({ KEYS[6] }) end
local nls = fmt((rank * 2 + phase) * T + deadline)
set_lease(id, nls)
local new_cap, new_data = cap, data
if ARGV[8] == '1' then new_cap = ARGV[9] end
if ARGV[10] == '1' then new_data = ARGV[11] end
if fp == '' and (new_cap ~= cap or new_data ~= data) then fp = fingerprint(cap, data) end
value = join_value(q, s, fmt(deadline), src, new_cap, new_data, fp)
redis.call('HSET', KEYS[1], id, value)
local changes = {}
local seq = num(m.seq)
if ARGV[7] == 'progress' then
  seq = seq + 1
  changes = { 'seq', seq, 'hw', fmt(now) }
end
if lower then lower_registry(deadline, changes) end
if #changes > 0 then redis.call('HSET', KEYS[5], unpack(changes)) end
keep_alive(deadline, tonumber(ARGV[4]), false, num(m.exp))
if ARGV[7] == 'progress' then
  publish(ARGV[5], ARGV[6], 'progress', seq, id, nls, value)
else
  publish(ARGV[5], ARGV[6], 'heartbeat', seq, id, nls, fmt(deadline))
end
return { value, nls }
`;
