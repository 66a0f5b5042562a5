/**
 * Settling the reports the sweeper handed to the app's hook: each is either done (acknowledged,
 * or dropped as a dead letter) or to be retried `reclaimMs` from now. Only a report this pass
 * still holds is settled: if its sweeper lost the lock and another pass handed the report out
 * again, the other pass owns it now and this answer is ignored.
 *
 * The sweep script settles the previous batch's reports at its start (one round trip per batch
 * instead of two); `settle` is the same step alone, for the last batch of a scope.
 */
export const SETTLE_HELPERS = `
-- Settles reports from ARGV[first], in pairs: report, done ('1') | retry ('0'), for the pass
-- whose claim token is token; a retry is due again at retry_at. Outbox KEYS[outbox], its
-- schedule KEYS[schedule]. Returns the number of reports settled (those the pass still held).
local function settle_reports(outbox, schedule, token, retry_at, first)
  if #ARGV < first then return 0 end
  local reports = {}
  for i = first, #ARGV, 2 do reports[#reports + 1] = ARGV[i] end
  local entries = redis.call('HMGET', KEYS[outbox], unpack(reports))
  local owner = token .. '\\n'
  local done, retry = {}, {}
  for i, report in ipairs(reports) do
    local entry = entries[i]
    if entry and string.sub(entry, 1, #owner) == owner then
      if ARGV[first - 1 + i * 2] == '1' then
        done[#done + 1] = report
      else
        retry[#retry + 1] = retry_at
        retry[#retry + 1] = report
      end
    end
  end
  if #done > 0 then
    redis.call('HDEL', KEYS[outbox], unpack(done))
    redis.call('ZREM', KEYS[schedule], unpack(done))
  end
  if #retry > 0 then redis.call('ZADD', KEYS[schedule], 'XX', unpack(retry)) end
  return #done + #retry / 2
end
`;

/**
 * settle: the last batch's reports of a scope (see SETTLE_HELPERS). A scope left with no runs and
 * no pending report leaves the registry. Declared allow-oom (it only deletes, or moves a score).
 *
 * KEYS: 1 runs, 2 registry, 3 outbox, 4 meta, 5 outbox schedule
 * ARGV: 1 tag, 2 claim token of the pass, 3 reclaimMs, then pairs: report, done ('1') | retry ('0')
 * Returns: the number of reports settled (those the pass still held)
 */
export const SETTLE = `
local settled = settle_reports(3, 5, ARGV[2], fmt(now_ms() + tonumber(ARGV[3])), 4)
if redis.call('EXISTS', KEYS[3]) == 0 and redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('HDEL', KEYS[4], 'lb')
end
return settled
`;
