/**
 * Lua shared by the scripts, prepended to each at definition time.
 *
 * Score packing (see constants.ts): T = 2^44 ms.
 *   index score     = phase * T + time            (phase 0 queued/queuedAt, 1 running/startedAt)
 *   by-source score = rank * 2T + phase * T + time  (rank >= 1, per source, from the meta hash)
 *   lease score     = rank * 2T + phase * T + leaseDeadline  (rank 0: no source)
 * Numbers are always formatted with %.0f before they reach redis.call: Lua's default
 * number-to-string conversion keeps 14 digits and would corrupt scores above 10^14.
 *
 * A run's value (src/codec.ts): queuedAt \n startedAt \n leaseDeadline \n source \n caption \n data,
 * then, once progress changed the caption or data, \n # and the 16-hex-digit fingerprint of the
 * caption and data the run was enqueued with (so a re-sent enqueue is recognised).
 * The deadline is kept both in the value and in the lease score, always changed together: reads
 * take it from the value, so they never make Redis format a score per run (the costly part of a
 * page); the lease set orders runs for the sweeper and counts lapsed runs per filter.
 *
 * Time: scope_now(meta hw) is the server's TIME, never earlier than the scope's high-water mark
 * `hw` (the latest time a write of the scope acted on), so a failover to a node whose clock is
 * behind never makes a lapsed run live again.
 *
 * Write scripts take the same first KEYS:
 *   1 runs (HASH), 2 index (ZSET), 3 by-source (ZSET), 4 lease (ZSET), 5 meta (HASH), 6 registry (ZSET)
 * The meta hash keeps `lb`, the scope's registry score: a lower bound of its lease deadlines.
 */
export const PRELUDE = String.raw`
local T = 17592186044416
local function fmt(n) return string.format('%.0f', n) end
local function fail(code, message)
  error({ err = 'ERR_ACTIVE_RUNS ' .. code .. ' ' .. message })
end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- The scope's clock (ms): TIME, or the scope's high-water mark hw when TIME is behind it.
local function scope_now(hw)
  local t = now_ms()
  local h = tonumber(hw or '0') or 0
  if h > t then return h end
  return t
end
-- q, s, d, src, cap, data, fp of a value (fp: '' when the value has no fingerprint)
local function split_value(v)
  local a = string.find(v, '\n', 1, true)
  local b = string.find(v, '\n', a + 1, true)
  local c = string.find(v, '\n', b + 1, true)
  local d = string.find(v, '\n', c + 1, true)
  local e = string.find(v, '\n', d + 1, true)
  local n = #v
  local data, fp = string.sub(v, e + 1), ''
  -- JSON never holds a raw newline, so a value ending in '\n#' and 16 characters carries one
  if n - e >= 18 and string.byte(v, n - 17) == 10 and string.byte(v, n - 16) == 35 then
    data = string.sub(v, e + 1, n - 18)
    fp = string.sub(v, n - 15)
  end
  return string.sub(v, 1, a - 1), string.sub(v, a + 1, b - 1), string.sub(v, b + 1, c - 1),
    string.sub(v, c + 1, d - 1), string.sub(v, d + 1, e - 1), data, fp
end
local function join_value(q, s, d, src, cap, data, fp)
  local v = q .. '\n' .. s .. '\n' .. d .. '\n' .. src .. '\n' .. cap .. '\n' .. data
  if fp and fp ~= '' then v = v .. '\n#' .. fp end
  return v
end
-- The fingerprint a value keeps of the caption and data its run was enqueued with.
local function fingerprint(cap, data)
  return string.sub(redis.sha1hex(cap .. '\n' .. data), 1, 16)
end
-- the lease deadline of a value, without splitting the rest
local function value_deadline(v)
  local a = string.find(v, '\n', 1, true)
  local b = string.find(v, '\n', a + 1, true)
  local c = string.find(v, '\n', b + 1, true)
  return tonumber(string.sub(v, b + 1, c - 1))
end
-- rank, phase, deadline of a lease score
local function decode_lease(score)
  local band = math.floor(score / T)
  return math.floor(band / 2), band % 2, score - band * T
end
`;

/**
 * Helpers of the write scripts (they use KEYS 1-6 as listed above).
 *
 * A write reads the meta fields it needs in one HMGET and writes them back in one HSET (counters,
 * event sequence, registry bound): fewer calls per write is most of a write's cost. Counters may
 * sit at 0; readers skip zeros.
 */
export const WRITE_PRELUDE = String.raw`
-- The meta fields named, as a table field -> value (nil when absent); also type-checks meta.
local function read_meta(fields)
  local values = redis.call('HMGET', KEYS[5], unpack(fields))
  local m = {}
  for i, f in ipairs(fields) do m[f] = values[i] end
  return m
end
local function num(v) return tonumber(v or '0') end
-- Before the first write: checks in one call that every sorted set the write will change is a
-- sorted set (ZINTERCARD fails WRONGTYPE otherwise), so a key of the wrong type fails the script
-- before it changes anything (Redis does not roll a script back). LIMIT 1 stops at the first
-- common member (idx and lease share all of theirs); an absent key is empty, so it is free.
local function check_zsets(zsets)
  local n = #zsets
  zsets[n + 1] = 'LIMIT'
  zsets[n + 2] = 1
  redis.call('ZINTERCARD', n, unpack(zsets))
end
-- Whether deadline is earlier than the scope's registry bound (meta lb), so the registry must
-- be lowered for the sweeper to look in time.
local function must_lower(m, deadline)
  return not m.lb or deadline < tonumber(m.lb)
end
-- Lowers the registry score to deadline; its copy in meta goes into the caller's HSET changes.
local function lower_registry(deadline, changes)
  redis.call('ZADD', KEYS[6], 'LT', fmt(deadline), ARGV[1])
  changes[#changes + 1] = 'lb'
  changes[#changes + 1] = fmt(deadline)
end
-- Keeps every key of the scope alive until at least deadline + grace / 2 (server clock): extends
-- to deadline + grace whenever less is left, so a run always has half a grace period after its
-- deadline to be swept and reported, and only one write in a while sets an expiry. Call it after
-- the writes (PEXPIREAT ignores a key that does not exist yet). force: a key was just created.
local function keep_alive(deadline, grace, force, exp)
  if force or deadline + grace / 2 > exp then
    local new_exp = fmt(math.max(exp, deadline + grace))
    for i = 1, 5 do redis.call('PEXPIREAT', KEYS[i], new_exp) end
    redis.call('HSET', KEYS[5], 'exp', new_exp)
    -- the slot's registry outlives every scope it lists (GT: never shortened by another scope;
    -- NX: a registry just created has no expiry yet), so it too vanishes when all are abandoned
    redis.call('PEXPIREAT', KEYS[6], new_exp, 'NX')
    redis.call('PEXPIREAT', KEYS[6], new_exp, 'GT')
  end
end
-- Whether anyone listens to the scope's events on this node: an event nobody receives would still
-- be copied to every replica. mode '0': events off, '1': PUBLISH, '2': SPUBLISH (Redis Cluster).
local function has_listeners(channel, mode)
  if mode == '0' then return false end
  return redis.call('PUBSUB', mode == '2' and 'SHARDNUMSUB' or 'NUMSUB', channel)[2] ~= 0
end
-- Sends an event without asking has_listeners (for a caller that asked once for several events).
local function send_event(channel, mode, kind, seq, id, lease_score, value)
  local msg = kind .. '\n' .. seq .. '\n' .. id .. '\n' .. lease_score .. '\n' .. value
  if mode == '2' then
    redis.call('SPUBLISH', channel, msg)
  else
    redis.call('PUBLISH', channel, msg)
  end
end
-- Publishes a change event with its sequence number (the caller stores seq in meta), if anyone
-- listens (see has_listeners).
local function publish(channel, mode, kind, seq, id, lease_score, value)
  if has_listeners(channel, mode) then send_event(channel, mode, kind, seq, id, lease_score, value) end
end
-- Adds by to a meta counter (the sweeper's batches); a counter at zero is removed.
local function incr(field, by)
  local n = redis.call('HINCRBY', KEYS[5], field, by)
  if n <= 0 then redis.call('HDEL', KEYS[5], field) end
  return n
end
-- Loads a run's value; fails NOT_FOUND if it is not in Redis. Its lease deadline and phase are in
-- the value and its source rank in meta (r:<source>), so no ZSCORE is needed: see set_lease.
local function load_value(id)
  local value = redis.call('HGET', KEYS[1], id)
  if not value then
    fail('NOT_FOUND', 'run ' .. id .. ' is not active (never enqueued, or ended or expired).')
  end
  return value
end
-- The rank of a run's source (0: none), from meta fields read with 'r:' .. src.
local function source_rank(m, id, src)
  if src == '' then return 0 end
  local rank = tonumber(m['r:' .. src])
  if not rank then fail('INTERNAL', 'run ' .. id .. ' has a source without a rank.') end
  return rank
end
local function no_lease(id)
  fail('INTERNAL', 'run ' .. id .. ' has data but no lease entry.')
end
-- Moves a run's lease entry to score, as the first write of the script (XX: never adds one), so a
-- run with data but no lease entry fails INTERNAL before anything is written. CH counts a changed
-- score; an unchanged one (a renewal within the same millisecond) is told apart by a ZSCORE.
local function set_lease(id, score)
  if redis.call('ZADD', KEYS[4], 'XX', 'CH', score, id) == 0
    and not redis.call('ZSCORE', KEYS[4], id) then
    no_lease(id)
  end
end
-- Fails NOT_FOUND when the run's lease lapsed (a lapsed run belongs to the sweeper and is never
-- brought back). First records now as the scope's high-water mark hw (a failing script keeps the
-- writes it made), so the run stays lapsed for every later call, even on a replica promoted with
-- a clock that is behind. Call it after reading meta (hw) and before the first other write.
local function check_live(id, deadline, now, hw)
  if deadline <= now then
    if now > (tonumber(hw or '0') or 0) then redis.call('HSET', KEYS[5], 'hw', fmt(now)) end
    fail('NOT_FOUND', 'run ' .. id .. ' lapsed (its lease expired); the sweeper reports it as expired.')
  end
end
-- The sweeper's outbox (KEYS 7 and 8): KEYS[7] HASH report -> owner \n attempt \n leaseScore \n value,
-- where report is id:deadline (unique per lapsed run), owner the token of the sweeper pass that
-- holds it ('' before its first delivery), attempt its deliveries so far; KEYS[8] ZSET report by
-- when it is due (again). After writing them: both live ttl ms more, and the slot's registry
-- at least as long, so a pending report always keeps its scope visitable.
local function keep_outbox(now, ttl)
  local at = fmt(now + ttl)
  redis.call('PEXPIREAT', KEYS[7], at)
  redis.call('PEXPIREAT', KEYS[8], at)
  redis.call('PEXPIREAT', KEYS[6], at, 'NX')
  redis.call('PEXPIREAT', KEYS[6], at, 'GT')
end
`;

/** Helpers of the read scripts (list, counts). */
export const READ_PRELUDE = `
-- True when some run of the scope may have lapsed: lb (meta) is a lower bound of the scope's
-- lease deadlines (writes lower it, the sweeper raises it to the exact minimum).
local function maybe_lapsed(lb, now)
  return (not lb) or tonumber(lb) <= now
end
-- Ranks in use: 0 (runs without a source) and every allocated source rank (meta k:<rank>).
local function ranks_in_use(meta_key)
  local ranks = { 0 }
  local meta = redis.call('HGETALL', meta_key)
  for i = 1, #meta, 2 do
    if string.sub(meta[i], 1, 2) == 'k:' then ranks[#ranks + 1] = tonumber(string.sub(meta[i], 3)) end
  end
  return ranks
end
-- Lapsed runs (deadline <= now) in the given rank and phase bands of the lease set: O(log N) each.
local function lapsed_in(lease_key, rank, phase, now)
  local base = (rank * 2 + phase) * T
  return redis.call('ZCOUNT', lease_key, fmt(base), fmt(base + now))
end
-- Byte-wise a < b, as sorted sets order members (Lua's < uses the server's locale).
local function bytes_lt(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
`;
