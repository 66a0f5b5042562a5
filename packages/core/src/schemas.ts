import { z } from 'zod';
import {
  DEFAULT_CLOSE_TIMEOUT_MS,
  DEFAULT_COMMAND_TIMEOUT_MS,
  DEFAULT_LEASE_MS,
  DEFAULT_MAX_CAPTION_LENGTH,
  DEFAULT_MAX_DATA_BYTES,
  DEFAULT_PREFIX,
  MAX_LEASE_MS,
  MAX_PAGE_SIZE,
  MAX_SOURCE_LENGTH,
  MIN_LEASE_MS,
  TIME_SPAN,
} from './constants.js';
import { ActiveRunsError, readInput } from './errors.js';
import { legacyOptionsSchema } from './legacy/options.js';
import { telemetryOptionsSchema } from './telemetry/options.js';

/** Anything with zod's `safeParse` (zod 3 or 4 schemas). */
export interface DataSchema<T = unknown> {
  safeParse(
    data: unknown,
  ): { success: true; data: T } | { success: false; error: { issues: readonly unknown[] } };
}

/** An ioredis client (standalone or Cluster), recognised by shape so duplicate installs still work. */
export interface RedisLike {
  defineCommand(
    name: string,
    definition: { numberOfKeys?: number; lua: string; readOnly?: boolean },
  ): void;
  quit(): Promise<unknown>;
  disconnect(): void;
  isCluster: boolean;
  options: object;
  status: string;
}

function isRedisLike(value: unknown): value is RedisLike {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as RedisLike).defineCommand === 'function' &&
    typeof (value as RedisLike).options === 'object'
  );
}

export const PREFIX_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
export const SOURCE_PATTERN = new RegExp(`^[A-Za-z0-9][A-Za-z0-9._-]{0,${MAX_SOURCE_LENGTH - 1}}$`);

const leaseMs = z
  .number()
  .int()
  .min(MIN_LEASE_MS, `leaseMs must be at least ${MIN_LEASE_MS}`)
  .max(MAX_LEASE_MS, `leaseMs must be at most ${MAX_LEASE_MS} (30 days)`);

export const storeOptionsSchema = z.strictObject({
  redis: z.custom<RedisLike | string>(
    (v) => (typeof v === 'string' && /^rediss?:\/\//.test(v)) || isRedisLike(v),
    'must be an ioredis Redis or Cluster client, or a redis:// / rediss:// URL',
  ),
  prefix: z
    .string()
    .regex(
      PREFIX_PATTERN,
      'prefix must be 1-64 characters of letters, digits, ".", "_", "-" or ":" (no braces), starting with a letter or digit',
    )
    .default(DEFAULT_PREFIX),
  leaseMs: leaseMs.default(DEFAULT_LEASE_MS),
  dataSchema: z
    .custom<DataSchema>(
      (v) => typeof (v as DataSchema | undefined)?.safeParse === 'function',
      'dataSchema must be a zod schema',
    )
    .optional(),
  maxCaptionLength: z.number().int().min(1).max(100_000).default(DEFAULT_MAX_CAPTION_LENGTH),
  maxDataBytes: z
    .number()
    .int()
    .min(2)
    .max(4 * 1024 * 1024)
    .default(DEFAULT_MAX_DATA_BYTES),
  commandTimeoutMs: z.number().int().min(1).max(600_000).default(DEFAULT_COMMAND_TIMEOUT_MS),
  closeClient: z.boolean().optional(),
  closeTimeoutMs: z.number().int().min(0).max(600_000).default(DEFAULT_CLOSE_TIMEOUT_MS),
  cursorSecret: z.string().min(16, 'cursorSecret must be at least 16 characters').optional(),
  publishEvents: z.boolean().default(true),
  onExpired: z
    .custom<(...args: never[]) => unknown>(
      (v) => typeof v === 'function',
      'onExpired must be a function',
    )
    .optional(),
  logger: z
    .custom<object>(
      (v) => typeof v === 'object' && v !== null,
      'logger must be a pino-compatible logger object',
    )
    .optional(),
  warnScopeSize: z.number().int().min(1).default(1_000),
  sweeper: z
    .strictObject({
      lockMs: z.number().int().min(100).max(3_600_000).optional(),
      batchSize: z.number().int().min(1).max(1_000).optional(),
      reclaimMs: z.number().int().min(100).max(86_400_000).optional(),
      maxAttempts: z.number().int().min(1).max(1_000).optional(),
      hookTimeoutMs: z.number().int().min(10).max(3_600_000).optional(),
    })
    .optional(),
  durableWrites: z
    .strictObject({
      replicas: z.number().int().min(1).max(16),
      timeoutMs: z.number().int().min(1).max(60_000).optional(),
    })
    .optional(),
  legacy: legacyOptionsSchema.optional(),
  telemetry: telemetryOptionsSchema.optional(),
});

/** Parses with a schema; a failure becomes an `INVALID_ARGUMENT` error naming the field. */
export function parseInput<S extends z.ZodType>(
  schema: S,
  value: unknown,
  what: string,
): z.output<S> {
  const result = readInput(what, () => schema.safeParse(value));
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue && issue.path.length > 0 ? `${what}.${issue.path.join('.')}` : what;
  throw new ActiveRunsError('INVALID_ARGUMENT', `${path}: ${issue?.message ?? 'invalid'}.`, {
    cause: result.error,
    details: { field: path, issues: result.error.issues },
  });
}

const timeMs = z
  .number()
  .int('must be an integer number of milliseconds since the epoch')
  .min(0)
  .max(TIME_SPAN - 1, `must be below ${TIME_SPAN}`);

const source = z
  .string()
  .regex(
    SOURCE_PATTERN,
    `must be 1-${MAX_SOURCE_LENGTH} letters, digits, ".", "_" or "-" (a low-cardinality label such as "api")`,
  );

export const enqueueInputSchema = z.strictObject({
  id: z.any(),
  queuedAt: timeMs.optional(),
  source: source.nullish(),
  caption: z.string().nullish(),
  data: z.unknown().optional(),
  leaseMs: leaseMs.optional(),
  start: z
    .union([z.boolean(), z.strictObject({ startedAt: timeMs.optional() })], {
      error: 'must be true, false or { startedAt }',
    })
    .optional(),
});

export const startOptionsSchema = z
  .strictObject({
    startedAt: timeMs.optional(),
    leaseMs: leaseMs.optional(),
  })
  .default({});

export const progressInputSchema = z.strictObject({
  caption: z.string().nullish(),
  data: z.unknown().optional(),
  leaseMs: leaseMs.optional(),
});

export const statsOptionsSchema = z.strictObject({ memory: z.boolean().optional() }).default({});

export const startSweeperOptionsSchema = z
  .strictObject({
    intervalMs: z
      .number()
      .int('must be an integer')
      .min(10, 'must be at least 10')
      .max(86_400_000)
      .optional(),
  })
  .default({});

export const heartbeatOptionsSchema = z.strictObject({ leaseMs: leaseMs.optional() }).default({});

const pageSize = z
  .number()
  .int('must be an integer')
  .min(1, 'must be at least 1')
  .max(MAX_PAGE_SIZE, `must be at most ${MAX_PAGE_SIZE}`);

export const listOptionsSchema = z
  .strictObject({
    limit: pageSize.optional(),
    cursor: z.string().nullish(),
    page: z.number().int('must be an integer').min(1, 'must be at least 1').optional(),
    pageSize: pageSize.optional(),
    status: z.enum(['queued', 'running']).nullish(),
    source: source.nullish(),
  })
  .default({});
