import type { ActiveRunStore, Scope } from '@active-runs/core';
import { createActiveRunStore, scopeKeys } from '@active-runs/core';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { WriteInput } from './writes.js';

/**
 * Floors of a write, to split an enqueue's cost: what the request's bytes cost through EVALSHA
 * with no Redis call, what the least consistent enqueue (data, two indexes, a counter) costs as a
 * script, and the store's enqueue with events off or with a zod dataSchema.
 */
export type FloorName =
  | 'hset'
  | 'emptyScript'
  | 'minimalScript'
  | 'enqueue'
  | 'enqueueNoEvents'
  | 'enqueueSchema';

export const FLOOR_LABELS: Record<FloorName, string> = {
  hset: 'bare HSET of the JSON',
  emptyScript: "empty script, enqueue's 8 keys + 14 args, replies as enqueue does",
  minimalScript: 'minimal enqueue script: HSET + 2 ZADD + HINCRBY, replies as enqueue does',
  enqueue: 'store.enqueue',
  enqueueNoEvents: 'store.enqueue, publishEvents: false',
  enqueueSchema: 'store.enqueue with a zod dataSchema',
};

// both reply as the store's enqueue does for a run it added: a few numbers, not the value
const EMPTY_LUA = "return { '', 1, ARGV[7], '', ARGV[3] }";
const MINIMAL_LUA = `
local value = ARGV[2] .. '\\n\\n' .. ARGV[3] .. '\\n' .. ARGV[4] .. '\\n' .. ARGV[5] .. '\\n' .. ARGV[6]
redis.call('HSET', KEYS[1], ARGV[1], value)
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[7], ARGV[1])
local n = redis.call('HINCRBY', KEYS[4], 'c:queued', 1)
return { '', n, ARGV[2], '', ARGV[3] }`;

/** The app's schema of the bench's `data`, as a user of `dataSchema` would write it. */
const DATA_SCHEMA = z.object({
  model: z.string(),
  temperature: z.number(),
  maxTokens: z.number().int(),
  userId: z.string(),
  traceId: z.string(),
  promptTokens: z.number().int(),
  tags: z.array(z.string()),
  parameters: z.object({
    topP: z.number(),
    frequencyPenalty: z.number(),
    presencePenalty: z.number(),
    stop: z.array(z.string()),
    responseFormat: z.string(),
    tools: z.array(z.string()),
    seed: z.number().int(),
  }),
  input: z.object({ preview: z.string(), messages: z.number().int() }),
  metadata: z.object({ sessionId: z.string(), conversationId: z.string(), region: z.string() }),
});

/** Key prefix of every store and key the floors write (deleted afterwards). */
export const FLOOR_PREFIX = 'floor';

type Script = (...args: (string | number)[]) => Promise<unknown>;

export interface Floors {
  readonly ops: Record<FloorName, (input: WriteInput) => Promise<unknown>>;
  close(): Promise<void>;
}

export function createFloors(client: Redis): Floors {
  const scope: Scope = { workspaceId: 'ws-floor', projectId: 'p' };
  const stores: ActiveRunStore[] = [
    createActiveRunStore({ redis: client, prefix: `${FLOOR_PREFIX}-events` }),
    createActiveRunStore({ redis: client, prefix: `${FLOOR_PREFIX}-quiet`, publishEvents: false }),
    createActiveRunStore({
      redis: client,
      prefix: `${FLOOR_PREFIX}-schema`,
      dataSchema: DATA_SCHEMA,
    }),
  ];
  const keys = scopeKeys(FLOOR_PREFIX, { workspaceId: 'ws-floor', projectId: 'p' });
  const scripts = client as unknown as Record<string, Script>;
  if (typeof scripts.benchEmptyWrite !== 'function') {
    client.defineCommand('benchEmptyWrite', { numberOfKeys: 8, lua: EMPTY_LUA });
    client.defineCommand('benchMinimalEnqueue', { numberOfKeys: 4, lua: MINIMAL_LUA });
  }
  const enqueueKeys = [
    keys.runs,
    keys.index,
    keys.bySource,
    keys.lease,
    keys.meta,
    keys.registry,
    keys.expired,
    keys.expiredDue,
  ];
  const deadline = () => Date.now() + 10_800_000;
  const [events, quiet, schema] = stores as [ActiveRunStore, ActiveRunStore, ActiveRunStore];
  return {
    ops: {
      hset: (input) => client.hset(`${FLOOR_PREFIX}:hset`, input.run.id, input.json),
      emptyScript: (input) =>
        scripts.benchEmptyWrite!(
          ...enqueueKeys,
          keys.tag,
          input.run.id,
          10_800_000,
          10_800_000,
          keys.events,
          '1',
          '',
          input.run.source ?? '',
          JSON.stringify(input.enqueue.caption),
          JSON.stringify(input.enqueue.data),
          127,
          86_400_000,
          '',
          '',
        ),
      minimalScript: (input) => {
        const d = deadline();
        return scripts.benchMinimalEnqueue!(
          keys.runs,
          keys.index,
          keys.lease,
          keys.meta,
          input.run.id,
          input.run.queuedAt,
          d,
          input.run.source ?? '',
          JSON.stringify(input.enqueue.caption),
          JSON.stringify(input.enqueue.data),
          d,
        );
      },
      enqueue: (input) => events.enqueue(scope, input.enqueue),
      enqueueNoEvents: (input) => quiet.enqueue(scope, input.enqueue),
      enqueueSchema: (input) => schema.enqueue(scope, input.enqueue),
    },
    async close() {
      for (const store of stores) await store.close();
    },
  };
}
