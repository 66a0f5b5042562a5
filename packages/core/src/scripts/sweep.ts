/**
 * sweep: claims up to `limit` lapsed runs of one scope (removing them from every structure at
 * once), re-delivers claims that were never acknowledged, and reschedules the scope in the
 * registry. Bounded: at most `limit` runs per call, so no call blocks Redis for long.
 *
 * Claimed runs wait in the scope's outbox hash (`id -> claimedAt \n leaseScore \n value`) until the
 * sweeper acknowledges them (HDEL) after calling the app's hook. A claim older than `reclaimMs`
 * (its sweeper died) is handed out again, so a crash never loses a report.
 *
 * KEYS: 1 runs, 2 index, 3 by-source, 4 lease, 5 meta, 6 registry, 7 outbox
 * ARGV: 1 tag, 2 limit, 3 reclaimMs, 4 channel, 5 pubmode, 6 outboxTtlMs
 * Returns: { more (1|0), then per run: id, leaseScore \n value, redelivery (1|0) }
 */
export const SWEEP = String.raw`
local now = now_ms()
local limit = tonumber(ARGV[2])
local reclaim_ms = tonumber(ARGV[3])
local out = { 0 }
local claimed = 0
-- touch every key before the first write: a key of the wrong type fails here, changing nothing
redis.call('HLEN', KEYS[1])
redis.call('ZCARD', KEYS[2])
redis.call('ZCARD', KEYS[3])
redis.call('ZCARD', KEYS[4])
redis.call('HLEN', KEYS[5])
redis.call('ZSCORE', KEYS[6], ARGV[1])
redis.call('HLEN', KEYS[7])

-- 1. claims whose sweeper never acknowledged them
if redis.call('EXISTS', KEYS[7]) == 1 then
  local entries = redis.call('HSCAN', KEYS[7], '0', 'COUNT', limit)[2]
  for i = 1, #entries, 2 do
    if claimed >= limit then break end
    local entry = entries[i + 1]
    local nl = string.find(entry, '\n', 1, true)
    if tonumber(string.sub(entry, 1, nl - 1)) + reclaim_ms <= now then
      local rest = string.sub(entry, nl + 1)
      redis.call('HSET', KEYS[7], entries[i], fmt(now) .. '\n' .. rest)
      out[#out + 1] = entries[i]
      out[#out + 1] = rest
      out[#out + 1] = 1
      claimed = claimed + 1
    end
  end
end

-- 2. lapsed runs, band by band (rank, phase) of the lease set; all runs of a band share one
-- source and one status, so each band is removed with a handful of multi-member calls
local stamp = fmt(now)
for _, r in ipairs(ranks_in_use(KEYS[5])) do
  for p = 0, 1 do
    if claimed >= limit then break end
    local base = (r * 2 + p) * T
    local lapsed = redis.call('ZRANGE', KEYS[4], fmt(base), fmt(base + now), 'BYSCORE',
      'LIMIT', 0, limit - claimed, 'WITHSCORES')
    if #lapsed > 0 then
      local ids = {}
      for i = 1, #lapsed, 2 do ids[#ids + 1] = lapsed[i] end
      local pending = redis.call('HMGET', KEYS[7], unpack(ids))
      local values = redis.call('HMGET', KEYS[1], unpack(ids))
      local take, orphans, outbox = {}, {}, {}
      for i, id in ipairs(ids) do
        -- an unacknowledged report for the same id waits; claim this one after it is acknowledged
        if not pending[i] then
          if values[i] then
            local entry = fmt(tonumber(lapsed[i * 2])) .. '\n' .. values[i]
            take[#take + 1] = id
            outbox[#outbox + 1] = id
            outbox[#outbox + 1] = stamp .. '\n' .. entry
            out[#out + 1] = id
            out[#out + 1] = entry
            out[#out + 1] = 0
          else
            orphans[#orphans + 1] = id
          end
        end
      end
      if #orphans > 0 then redis.call('ZREM', KEYS[4], unpack(orphans)) end
      if #take > 0 then
        claimed = claimed + #take
        redis.call('HDEL', KEYS[1], unpack(take))
        redis.call('ZREM', KEYS[2], unpack(take))
        redis.call('ZREM', KEYS[4], unpack(take))
        incr(p == 1 and 'c:running' or 'c:queued', -#take)
        if r > 0 then
          redis.call('ZREM', KEYS[3], unpack(take))
          local src = redis.call('HGET', KEYS[5], 'k:' .. r)
          if src and incr('s:' .. src, -#take) <= 0 then
            redis.call('HDEL', KEYS[5], 'r:' .. src, 'k:' .. r)
          end
        end
        redis.call('HSET', KEYS[7], unpack(outbox))
        local seq = redis.call('HINCRBY', KEYS[5], 'seq', #take) - #take
        for i = 1, #outbox, 2 do
          local entry = outbox[i + 1]
          local nl = string.find(entry, '\n', 1, true)
          local nl2 = string.find(entry, '\n', nl + 1, true)
          seq = seq + 1
          publish(ARGV[4], ARGV[5], 'expired', seq, outbox[i], string.sub(entry, nl + 1, nl2 - 1),
            string.sub(entry, nl2 + 1))
        end
      end
    end
  end
end
if claimed > 0 then redis.call('PEXPIRE', KEYS[7], ARGV[6]) end

-- 3. when to look at this scope again: now if there is more, else its earliest lease deadline
-- (or when pending claims become reclaimable); a scope with nothing left leaves the registry
local next_at = nil
if claimed >= limit then
  out[1] = 1
  next_at = now
else
  for _, r in ipairs(ranks_in_use(KEYS[5])) do
    for p = 0, 1 do
      local base = (r * 2 + p) * T
      local first = redis.call('ZRANGE', KEYS[4], fmt(base), fmt(base + T - 1), 'BYSCORE',
        'LIMIT', 0, 1, 'WITHSCORES')
      if #first > 0 then
        local d = tonumber(first[2]) - base
        if not next_at or d < next_at then next_at = d end
      end
    end
  end
  if redis.call('EXISTS', KEYS[7]) == 1 then
    local at = now + reclaim_ms
    if not next_at or at < next_at then next_at = at end
  end
end
if next_at then
  redis.call('ZADD', KEYS[6], fmt(next_at), ARGV[1])
  if redis.call('EXISTS', KEYS[5]) == 1 then redis.call('HSET', KEYS[5], 'lb', fmt(next_at)) end
else
  redis.call('ZREM', KEYS[6], ARGV[1])
  redis.call('HDEL', KEYS[5], 'lb')
end
return out
`;
