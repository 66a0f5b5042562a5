/**
 * get: one run, or nil when it is not active (a lapsed run is invisible). Read-only.
 *
 * KEYS: 1 runs (the lease deadline is in the value), 2 meta (the scope's time high-water mark)
 * ARGV: 1 id
 * Returns: { value } or nil
 */
export const GET = `
local value = redis.call('HGET', KEYS[1], ARGV[1])
if not value or value_deadline(value) <= scope_now(redis.call('HGET', KEYS[2], 'hw')) then
  return false
end
return { value }
`;
