import { createHash } from 'node:crypto';
import type { RedisLike } from '../schemas.js';
import type { ScriptDefinition } from '../scripts/index.js';
import { CURSOR_FIELD, MIGRATED_FIELD } from './checkpoint.js';

/**
 * The rollout mode's and the backfill's small Lua scripts, run through the store's caller like
 * the store's own (EVALSHA, one deadline, no ghost writes). Legacy keys have no hash tag: each
 * script touches one legacy key, or keys of one scope's slot, so it runs on a Cluster too.
 *
 * `#!lua` makes Redis refuse a script that may write as a whole over `maxmemory` (nothing of it
 * runs), unless it declares `allow-oom`: only what frees memory, or adds a few bytes, does, so
 * an `end` and an expiry still work in rollout mode on a full Redis (issue 9).
 */
function define(
  name: string,
  numberOfKeys: number,
  body: string,
  { allowOom = false } = {},
): ScriptDefinition {
  const lua = `#!lua${allowOom ? ' flags=allow-oom' : ''}\n${body}`;
  const digest = createHash('sha1').update(lua).digest('hex').slice(0, 8);
  return {
    command: `activeRuns_legacy_${name}_${digest}`,
    numberOfKeys,
    readOnly: false,
    allowOom,
    lua,
  };
}

/** KEYS: 1 legacy hash; ARGV: 1 field, 2 value, 3 ttl ms. Sets a field only if it exists. Returns 1 if set. */
export const SET_IF_EXISTS = define(
  'setifexists',
  1,
  `if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`,
);

/** KEYS: 1 legacy hash; ARGV: 1 field, 2 expected value, 3 new value, 4 ttl ms. Returns 1 if replaced. */
export const REPLACE_IF_UNCHANGED = define(
  'fieldcas',
  1,
  `if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1`,
);

/** KEYS: 1 legacy hash; ARGV: 1 field, 2 expected value. Returns 1 if deleted. */
export const DELETE_IF_UNCHANGED = define(
  'fielddel',
  1,
  `if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
return 1`,
  { allowOom: true },
);

/** KEYS: 1 legacy JSON string; ARGV: 1 expected text, 2 new text, 3 ttl ms. Returns 1 if replaced. */
export const COMPARE_AND_SET = define(
  'cas',
  1,
  `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1`,
);

/**
 * Tombstone of a run ended during the rollout, trimmed to the window; nothing once migrated.
 * KEYS: 1 migration state, 2 tombstones; ARGV: 1 id, 2 now (ms), 3 windowMs. Returns 1 if migrated.
 * `allow-oom`: one member, and the trim frees older ones.
 */
export const TOMBSTONE = define(
  'tombstone',
  2,
  `if redis.call('HEXISTS', KEYS[1], '${MIGRATED_FIELD}') == 1 then return 1 end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', string.format('(%.0f', tonumber(ARGV[2]) - tonumber(ARGV[3])))
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 0`,
  { allowOom: true },
);

/**
 * Clears the tombstone of an earlier run with the id an `enqueue` reuses. A script, not ZREM,
 * so that a full Redis refuses it along with the enqueue (ZREM alone would run): a refused
 * enqueue changes nothing. KEYS: 1 tombstones; ARGV: 1 id.
 */
export const CLEAR_TOMBSTONE = define(
  'untombstone',
  1,
  `return redis.call('ZREM', KEYS[1], ARGV[1])`,
);

/**
 * Switches a scope to the new layout: the migrated flag, and its rollout state dropped, in one
 * atomic step. KEYS: 1 migration state, 2 tombstones; ARGV: 1 now (ms).
 */
export const SWITCH_SCOPE = define(
  'switch',
  2,
  `redis.call('HSET', KEYS[1], '${MIGRATED_FIELD}', ARGV[1])
redis.call('HDEL', KEYS[1], '${CURSOR_FIELD}')
redis.call('DEL', KEYS[2])
return 1`,
);

const LEGACY_SCRIPTS = [
  SET_IF_EXISTS,
  REPLACE_IF_UNCHANGED,
  DELETE_IF_UNCHANGED,
  COMPARE_AND_SET,
  TOMBSTONE,
  CLEAR_TOMBSTONE,
  SWITCH_SCOPE,
];

/**
 * Registers the scripts on the client, as the store registers its own: for the caller's fallback
 * (a client that is not ioredis as the caller knows it), which calls scripts by their registered
 * name. For an ioredis client the caller sends the scripts itself (EVAL, then EVALSHA).
 */
export function registerLegacyScripts(client: RedisLike): void {
  const commands = client as unknown as Record<string, unknown>;
  for (const { command, numberOfKeys, lua } of LEGACY_SCRIPTS) {
    if (typeof commands[command] !== 'function')
      client.defineCommand(command, { numberOfKeys, lua });
  }
}
