/**
 * settle: the sweeper's answer for the reports it handed to the app's hook: each is either done
 * (acknowledged, or dropped as a dead letter) or to be retried `reclaimMs` from now. Only a report
 * this pass still holds is settled: if its sweeper lost the lock and another pass handed the report
 * out again, the other pass owns it now and this answer is ignored. A scope left with no runs and
 * no pending report leaves the registry. Declared allow-oom (it only deletes, or moves a score).
 *
 * KEYS: 1 runs, 2 registry, 3 outbox, 4 meta, 5 outbox schedule
 * ARGV: 1 tag, 2 claim token of the pass, 3 reclaimMs, then pairs: report, done ('1') | retry ('0')
 * Returns: the number of reports settled (those the pass still held)
 */
export const SETTLE = `
local reports = {}
for i = 4, #ARGV, 2 do reports[#reports + 1] = ARGV[i] end
local entries = redis.call('HMGET', KEYS[3], unpack(reports))
local owner = ARGV[2] .. '\\n'
local done, retry = {}, {}
local retry_at = fmt(now_ms() + tonumber(ARGV[3]))
for i, report in ipairs(reports) do
  local entry = entries[i]
  if entry and string.sub(entry, 1, #owner) == owner then
    if ARGV[3 + i * 2] == '1' then
      done[#done + 1] = report
    else
      retry[#retry + 1] = retry_at
      retry[#retry + 1] = report
    end
  end
end
if #done > 0 then
  redis.call('HDEL', KEYS[3], unpack(done))
  redis.call('ZREM', KEYS[5], unpack(done))
end
if #retry > 0 then redis.call('ZADD', KEYS[5], 'XX', unpack(retry)) end
if redis.call('EXISTS', KEYS[3]) == 0 and redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('HDEL', KEYS[4], 'lb')
end
return #done + #retry / 2
`;
