/**
 * The sweep lock: one pass at a time across every instance, held under a random token, renewed
 * while the pass runs, released only by its owner. Declared allow-oom: sweeping is how a full
 * Redis gets memory back, so the lock must work when Redis refuses other writes (a plain
 * `SET NX PX` would be refused), and it adds one short key at most.
 *
 * KEYS: 1 lock key
 * ARGV: 1 token, 2 lockMs (acquire, renew)
 * Returns: 1 when done (acquired, renewed, released), 0 when the lock is someone else's
 */
export const ACQUIRE_LOCK = `
if redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return 1 end
return 0
`;
export const RENEW_LOCK = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`;
export const RELEASE_LOCK = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;
