/**
 * sweep: settles the previous batch's reports, hands out the scope's due reports, claims up to
 * `limit` lapsed runs (removing them from every structure at once), and reschedules the scope in
 * the registry. Bounded: at most `limit` reports per call, so no call blocks Redis for long.
 * Declared allow-oom: it frees memory (a claimed run moves from the runs hash to the outbox, and
 * leaves its three index entries and counters behind), so it works when Redis is full.
 *
 * Reports wait in the scope's outbox (see keep_outbox in the prelude) until the sweeper settles
 * them after calling the app's hook: a report is due at once when it is new, then again
 * `reclaimMs` after each delivery that was not acknowledged (the hook threw, or the sweeper
 * died), until it was delivered `maxAttempts` times: it is then dropped and returned as a dead
 * letter. Due reports are read from the schedule set in due order, never by scanning. Answers
 * for earlier batches ride in this call (ARGV 9..; the sweeper sends the next claim while the
 * hooks of a batch run, so these are the batch before that one's), so a pass makes one round trip
 * per batch; the answers left at the end go alone in `settle` (scripts/settle.ts).
 *
 * Per run it builds one new string of the value's size (the outbox entry), plus the event
 * message when someone listens: new long strings are most of a batch's Redis time.
 *
 * KEYS: 1 runs, 2 index, 3 by-source, 4 lease, 5 meta, 6 registry, 7 outbox, 8 outbox schedule
 * ARGV: 1 tag, 2 limit, 3 reclaimMs, 4 channel, 5 pubmode, 6 outboxTtlMs, 7 claim token of this
 *       pass, 8 maxAttempts, then pairs settling the previous batch: report, done ('1') | retry ('0')
 * Returns: { more (1|0), then per report: report (id:deadline), attempt, kind (0 first delivery,
 *   1 redelivery, 2 dead letter: not delivered), value }
 */
export const SWEEP = String.raw`
local limit = tonumber(ARGV[2])
local reclaim_ms = tonumber(ARGV[3])
local token = ARGV[7]
local out = { 0 }
local claimed = 0
-- touch every key before the first write: a key of the wrong type fails here, changing nothing
redis.call('HLEN', KEYS[1])
redis.call('ZCARD', KEYS[2])
redis.call('ZCARD', KEYS[3])
redis.call('ZCARD', KEYS[4])
local now = scope_now(redis.call('HGET', KEYS[5], 'hw'))
redis.call('ZSCORE', KEYS[6], ARGV[1])
redis.call('HLEN', KEYS[7])
redis.call('ZCARD', KEYS[8])
local retry_at = fmt(now + reclaim_ms)
settle_reports(7, 8, token, retry_at, 9)
-- whether anyone receives the expired events (publish() asks per event; ask once per batch)
local listening = ARGV[5] ~= '0' and
  redis.call('PUBSUB', ARGV[5] == '2' and 'SHARDNUMSUB' or 'NUMSUB', ARGV[4])[2] > 0

-- 1. reports due: new ones (a lapsed run replaced by enqueue), and deliveries not acknowledged
local due = redis.call('ZRANGE', KEYS[8], '-inf', fmt(now), 'BYSCORE', 'LIMIT', 0, limit)
if #due > 0 then
  local entries = redis.call('HMGET', KEYS[7], unpack(due))
  local held, schedule, dropped = {}, {}, {}
  for i, report in ipairs(due) do
    local entry = entries[i]
    if not entry then
      dropped[#dropped + 1] = report
    else
      local a = string.find(entry, '\n', 1, true)
      local b = string.find(entry, '\n', a + 1, true)
      local c = string.find(entry, '\n', b + 1, true)
      local attempt = tonumber(string.sub(entry, a + 1, b - 1)) + 1
      local rest = string.sub(entry, b + 1)
      out[#out + 1] = report
      if attempt > tonumber(ARGV[8]) then
        dropped[#dropped + 1] = report
        out[#out + 1] = attempt - 1
        out[#out + 1] = 2
      else
        held[#held + 1] = report
        held[#held + 1] = token .. '\n' .. attempt .. '\n' .. rest
        schedule[#schedule + 1] = retry_at
        schedule[#schedule + 1] = report
        out[#out + 1] = attempt
        out[#out + 1] = attempt > 1 and 1 or 0
      end
      out[#out + 1] = string.sub(entry, c + 1)
      claimed = claimed + 1
    end
  end
  if #held > 0 then
    redis.call('HSET', KEYS[7], unpack(held))
    redis.call('ZADD', KEYS[8], unpack(schedule))
  end
  if #dropped > 0 then
    redis.call('HDEL', KEYS[7], unpack(dropped))
    redis.call('ZREM', KEYS[8], unpack(dropped))
  end
end

-- 2. lapsed runs, band by band (rank, phase) of the lease set; all runs of a band share one
-- source and one status, so each band is removed with a handful of multi-member calls
for _, r in ipairs(ranks_in_use(KEYS[5])) do
  for p = 0, 1 do
    if claimed >= limit then break end
    local base = (r * 2 + p) * T
    local lapsed = redis.call('ZRANGE', KEYS[4], fmt(base), fmt(base + now), 'BYSCORE',
      'LIMIT', 0, limit - claimed, 'WITHSCORES')
    if #lapsed > 0 then
      local ids = {}
      for i = 1, #lapsed, 2 do ids[#ids + 1] = lapsed[i] end
      local values = redis.call('HMGET', KEYS[1], unpack(ids))
      local take, taken, scores, orphans, outbox, schedule = {}, {}, {}, {}, {}, {}
      for i, id in ipairs(ids) do
        local value = values[i]
        if value then
          -- the score as Redis sent it: an integer below 2^53, so the same digits fmt would
          -- give, without a string.format per run (~1 µs of the ~20 a run costs here)
          local ls = lapsed[i * 2]
          local report = id .. ':' .. fmt(tonumber(ls) - base)
          take[#take + 1] = id
          taken[#taken + 1] = value
          scores[#scores + 1] = ls
          outbox[#outbox + 1] = report
          outbox[#outbox + 1] = token .. '\n1\n' .. ls .. '\n' .. value
          schedule[#schedule + 1] = retry_at
          schedule[#schedule + 1] = report
          out[#out + 1] = report
          out[#out + 1] = 1
          out[#out + 1] = 0
          out[#out + 1] = value
        else
          orphans[#orphans + 1] = id
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
        redis.call('ZADD', KEYS[8], unpack(schedule))
        local seq = redis.call('HINCRBY', KEYS[5], 'seq', #take) - #take
        if listening then
          for i = 1, #take do
            seq = seq + 1
            publish(ARGV[4], ARGV[5], 'expired', seq, take[i], scores[i], taken[i])
          end
        end
      end
    end
  end
end
if claimed > 0 and redis.call('EXISTS', KEYS[7]) == 1 then keep_outbox(now, tonumber(ARGV[6])) end

-- 3. when to look at this scope again: now if there is more, else its earliest lease deadline
-- or due report; a scope with nothing left leaves the registry
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
  local first_due = redis.call('ZRANGE', KEYS[8], 0, 0, 'WITHSCORES')
  if #first_due > 0 then
    local at = tonumber(first_due[2])
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
