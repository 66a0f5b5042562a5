import { MAX_SOURCES_PER_SCOPE } from '../constants.js';
import { ActiveRunsError } from '../errors.js';
import type { ParsedScope } from '../keys.js';
import { scopeKeys, writeKeys } from '../keys.js';
import { IMPORT_OUTBOX_CHECK_MAX } from '../scripts/import.js';
import { SCRIPTS } from '../scripts/index.js';
import { migrationKeys } from './checkpoint.js';
import type { LegacyContext } from './context.js';
import type { MappedRecord } from './record.js';

/** Runs per import script call: with the time budget, bounds how long a call holds Redis. */
export const MAX_IMPORT_BATCH = 1_000;
/** Redis time one import call may take before it returns and lets the caller send the rest. */
export const IMPORT_BUDGET_MS = 2;

/**
 * What the import did with a run (see scripts/import.ts): `exists` (the scope has the id, live or
 * lapsed and not swept yet), `ended` (tombstoned during the rollout), `expired` (a report of the id
 * waits in the sweeper's outbox), `lapsed` (its deadline passed), `unchecked` (not decided: the
 * scope's outbox holds too many reports to check; always the last status of a call's reply).
 */
export type ImportStatus =
  | 'inserted'
  | 'exists'
  | 'ended'
  | 'lapsed'
  | 'too-many-sources'
  | 'expired'
  | 'unchecked';

const STATUS: readonly ImportStatus[] = [
  'exists',
  'inserted',
  'ended',
  'lapsed',
  'too-many-sources',
  'expired',
  'unchecked',
];

/**
 * The error for a run the import left `unchecked`: only the legacy layout has it, and its scope's
 * outbox holds too many reports to check that it did not expire. Retrying later works: the
 * sweeper delivers them (or drops them after `maxAttempts`).
 */
export function uncheckedError(scope: ParsedScope, id: string): ActiveRunsError {
  return new ActiveRunsError(
    'CONFLICT',
    `run ${id} is only in the legacy layout, and scope ${scope.workspaceId}:${scope.projectId} holds more than ${IMPORT_OUTBOX_CHECK_MAX} expired-run reports its onExpired hook has not acknowledged, too many to check that the run did not expire; retry once the sweeper has delivered them.`,
    { details: { scope, id } },
  );
}

/** The KEYS of the import script for a scope, in order (see scripts/import.ts). */
export function importScriptKeys(prefix: string, scope: ParsedScope): string[] {
  const keys = scopeKeys(prefix, scope);
  const migration = migrationKeys(prefix, scope);
  return [...writeKeys(keys), keys.expired, migration.tombstones, migration.state];
}

/**
 * Imports mapped runs into their scope, one script call per batch of up to
 * {@link MAX_IMPORT_BATCH} (more calls when a call stops at its time budget). `check` decides
 * without writing (the dry run). `checkpoint` is stored as the scope's resume point with the last
 * run, in the same atomic call.
 * @returns the status of each record, in order; after an `unchecked` one (the scope's outbox is
 *   too large to check), none: the records after it were not sent
 */
export async function importRecords<TData>(
  ctx: LegacyContext<TData>,
  scope: ParsedScope,
  records: readonly MappedRecord<TData>[],
  options: { mode: 'write' | 'check'; checkpoint?: string },
): Promise<ImportStatus[]> {
  const keys = scopeKeys(ctx.prefix, scope);
  const scriptKeys = importScriptKeys(ctx.prefix, scope);
  const statuses: ImportStatus[] = [];
  let from = 0;
  while (from < records.length) {
    const to = Math.min(from + MAX_IMPORT_BATCH, records.length);
    const args: (string | number)[] = [
      keys.tag,
      ctx.graceMs,
      keys.events,
      ctx.publishMode,
      MAX_SOURCES_PER_SCOPE,
      options.mode,
      IMPORT_BUDGET_MS,
      to === records.length ? (options.checkpoint ?? '') : '',
    ];
    for (let i = from; i < to; i++) {
      const { run, captionJson, dataJson } = records[i]!;
      args.push(
        run.id,
        run.queuedAt,
        run.startedAt ?? '',
        run.leaseExpiresAt,
        run.source ?? '',
        captionJson,
        dataJson,
      );
    }
    const write = options.mode === 'write';
    const reply = (await ctx.calls.script(
      SCRIPTS.import,
      write ? 'import' : 'import check',
      write,
      scriptKeys,
      args,
    )) as number[];
    for (let i = 1; i < reply.length; i++) statuses.push(STATUS[Number(reply[i])]!);
    if (statuses.at(-1) === 'unchecked') break;
    from += Number(reply[0]);
  }
  return statuses;
}
