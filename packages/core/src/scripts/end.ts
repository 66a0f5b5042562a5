/**
 * end: removes a run from every structure and returns its last state. Declared allow-oom: it
 * frees memory, so it works when Redis is full (it adds a few bytes of meta at most).
 * A run that is gone or lapsed fails NOT_FOUND (a lapsed run is reported by the sweeper instead,
 * so each run is either ended or expired, never both).
 *
 * KEYS: 1 runs, 2 index, 3 by-source, 4 lease, 5 meta, 6 registry, 7 outbox (sweeper's)
 * ARGV: 1 tag, 2 id, 3 channel, 4 pubmode
 * Returns: { value, leaseScore }
 */
export const END = `
local id = ARGV[2]
local value = load_value(id)
local _, s, lapse_at, src = split_value(value)
local status = s == '' and 'c:queued' or 'c:running'
local fields = { 'seq', 'c:queued', 'c:running', 'hw' }
if src ~= '' then
  fields[5] = 's:' .. src
  fields[6] = 'r:' .. src
end
local m = read_meta(fields)
local now = scope_now(m.hw)
lapse_at = tonumber(lapse_at)
check_live(id, lapse_at, now, m.hw)
local rank = source_rank(m, id, src)
-- the scope's last run: it leaves the registry now (unless reports wait in the outbox), so a
-- registry never keeps scopes that are gone, even where no sweeper runs
local emptied = num(m['c:queued']) + num(m['c:running']) <= 1
  and redis.call('HLEN', KEYS[7]) == 0
local zsets = { KEYS[2] }
if rank > 0 then zsets[#zsets + 1] = KEYS[3] end
if emptied then zsets[#zsets + 1] = KEYS[6] end
check_zsets(zsets)
-- the first write: a run with data but no lease entry changes nothing
if redis.call('ZREM', KEYS[4], id) == 0 then no_lease(id) end
redis.call('HDEL', KEYS[1], id)
redis.call('ZREM', KEYS[2], id)
local seq = num(m.seq) + 1
local changes = { 'seq', seq, status, num(m[status]) - 1, 'hw', fmt(now) }
if rank > 0 then
  redis.call('ZREM', KEYS[3], id)
  local n = num(m['s:' .. src]) - 1
  if n <= 0 then
    -- the source's last run: free its rank for other sources
    redis.call('HDEL', KEYS[5], 's:' .. src, 'r:' .. src, 'k:' .. rank)
  else
    changes[#changes + 1] = 's:' .. src
    changes[#changes + 1] = n
  end
end
redis.call('HSET', KEYS[5], unpack(changes))
if emptied then
  redis.call('ZREM', KEYS[6], ARGV[1])
  redis.call('HDEL', KEYS[5], 'lb')
end
local ls = fmt((rank * 2 + (s == '' and 0 or 1)) * T + lapse_at)
publish(ARGV[3], ARGV[4], 'ended', seq, id, ls, value)
return { value, ls }
`;
