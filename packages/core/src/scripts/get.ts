/**
 * get: one run, or nil when it is not active (a lapsed run is invisible). Read-only.
 *
 * KEYS: 1 runs, 2 lease
 * ARGV: 1 id
 * Returns: { value, leaseScore } or nil
 */
export const GET = `
local value = redis.call('HGET', KEYS[1], ARGV[1])
if not value then return false end
local ls = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not ls then return false end
local _, _, deadline = decode_lease(tonumber(ls))
if deadline <= now_ms() then return false end
return { value, ls }
`;
