/**
 * Zod schemas of the HTTP API: request inputs built from the store's own input schemas (so a
 * limit, a source or a lease is checked by the same rule over HTTP as in a direct call), and
 * response bodies tied to the store's types. Adapters turn them into JSON Schema
 * (see json-schema.ts) for validation docs, OpenAPI and response serialization.
 * @module
 */
import { z } from 'zod';
import type { ActiveRun } from '../codec.js';
import { ACTIVE_RUNS_ERROR_CODES } from '../errors.js';
import {
  enqueueInputSchema,
  heartbeatOptionsSchema,
  listOptionsSchema,
  progressInputSchema,
  startOptionsSchema,
} from '../schemas.js';
import type { ListPage, RunCounts } from '../store-types.js';

/** Query strings carry text: a numeric string becomes a number before the store's rule checks it. */
function queryNumber<S extends z.ZodType>(schema: S) {
  return z.preprocess(
    (value) =>
      typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))
        ? Number(value)
        : value,
    schema,
  );
}

const list = listOptionsSchema.unwrap().shape;

/** Query of `GET /runs/active`: cursor paging (`limit`, `cursor`) or offset paging (`page`, `pageSize`). */
export const listQuerySchema = z.strictObject({
  limit: queryNumber(list.limit.unwrap()).optional(),
  cursor: z.string().optional(),
  page: queryNumber(list.page.unwrap()).optional(),
  pageSize: queryNumber(list.pageSize.unwrap()).optional(),
  status: list.status.unwrap().unwrap().optional(),
  source: list.source.unwrap().unwrap().optional(),
});

/** Routes without query parameters refuse any, so nothing in a query can pose as a scope. */
export const emptyQuerySchema = z.strictObject({});

/** Path parameters of the routes of one run. */
export const runParamsSchema = z.strictObject({ runId: z.string() });

/** A run as every route returns it; `data` follows the app's `dataSchema` when it is a zod 4 schema. */
export function activeRunSchema(data: z.ZodType = z.unknown()) {
  return z.strictObject({
    id: z.string(),
    status: z.enum(['queued', 'running']),
    queuedAt: z.number().int(),
    startedAt: z.number().int().nullable(),
    source: z.string().nullable(),
    caption: z.string().nullable(),
    data: data.nullable(),
    leaseExpiresAt: z.number().int(),
  }) satisfies z.ZodType<ActiveRun>;
}

/** Body of `GET /runs/active`: `store.list`'s page. */
export function listPageSchema(data?: z.ZodType) {
  return z.strictObject({
    items: z.array(activeRunSchema(data)),
    total: z.number().int(),
    nextCursor: z.string().nullable(),
  }) satisfies z.ZodType<ListPage>;
}

/** Body of `GET /runs/active/counts`: `store.counts`. */
export const runCountsSchema = z.strictObject({
  total: z.number().int(),
  byStatus: z.strictObject({ queued: z.number().int(), running: z.number().int() }),
  bySource: z.record(z.string(), z.number().int()),
}) satisfies z.ZodType<RunCounts>;

/** Body of every error the routes answer with: `{ error: { code, message, field? } }`. */
export const httpErrorBodySchema = z.strictObject({
  error: z.strictObject({
    code: z.enum(ACTIVE_RUNS_ERROR_CODES as [string, ...string[]]),
    message: z.string(),
    field: z.string().optional(),
  }),
});

/** What an error body holds. */
export type HttpErrorBody = z.output<typeof httpErrorBodySchema>;

/** Body of `POST /runs/active` (enqueue). */
export function enqueueBodySchema(data: z.ZodType = z.unknown()) {
  return enqueueInputSchema.extend({ id: z.string(), data: data.nullable().optional() });
}

/** Body of `PATCH /runs/active/:runId` (progress): `null` clears a field, a missing one is kept. */
export function progressBodySchema(data: z.ZodType = z.unknown()) {
  return progressInputSchema.extend({ data: data.nullable().optional() });
}

/** Body of `POST /runs/active/:runId/start`; may be left out. */
export const startBodySchema = startOptionsSchema.unwrap().optional();

/** Body of `POST /runs/active/:runId/heartbeat`; may be left out. */
export const heartbeatBodySchema = heartbeatOptionsSchema.unwrap().optional();

/**
 * The app's `dataSchema` as a zod 4 schema, to type `data` in request and response schemas; any
 * other schema (zod 3, a hand-written `safeParse`) leaves `data` open, and the store still
 * validates it on every write.
 */
export function httpDataSchema(dataSchema: unknown): z.ZodType {
  // `_zod` marks a zod 4 schema, whichever copy of zod made it
  return typeof dataSchema === 'object' && dataSchema !== null && '_zod' in dataSchema
    ? (dataSchema as z.ZodType)
    : z.unknown();
}
