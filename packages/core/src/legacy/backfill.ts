import { z } from 'zod';
import { ActiveRunsError, fromRedisError } from '../errors.js';
import type { Scope } from '../keys.js';
import { scopeKeys } from '../keys.js';
import { parseInput } from '../schemas.js';
import type { ActiveRunStore } from '../store-types.js';
import { isWrongType, settleAll } from './calls.js';
import type { BackfillPass } from './checkpoint.js';
import {
  CURSOR_FIELD,
  checkpointValue,
  MIGRATED_FIELD,
  migrationKeys,
  parseCheckpoint,
} from './checkpoint.js';
import type { LegacyContext } from './context.js';
import { mapEntry } from './context.js';
import type { ImportStatus } from './importer.js';
import { importRecords, MAX_IMPORT_BATCH, uncheckedError } from './importer.js';
import type { LegacyKeyRef } from './key-finder.js';
import { findLegacyKeys } from './key-finder.js';
import type { LegacyEntry, LegacyKeyShape } from './legacy-key.js';
import { probeLegacyKey, scanLegacyHash, scopeNow } from './legacy-key.js';
import { countSkip } from './page-reader.js';
import type { LegacySkipReason, MappedRecord } from './record.js';
import { legacyContextOf } from './rollout-store.js';
import { SWITCH_SCOPE } from './scripts.js';

/**
 * Why a legacy record was not copied: a {@link LegacySkipReason}, or what the import found:
 * `exists` (the new layout already has the id: it may be newer, it is kept; a run there that
 * lapsed and is not swept yet counts too: the sweeper reports it), `ended` (ended or expired
 * through the rollout store meanwhile), `too-many-sources` (the scope already holds 127 distinct
 * sources).
 */
export type LegacyRecordSkipReason = LegacySkipReason | 'exists' | 'ended' | 'too-many-sources';

/**
 * Why a legacy key was not migrated: `wrong-type` (neither a hash nor a JSON string of runs),
 * `bad-json` (a string that is not JSON), `bad-key` (a key found by `match` that names no scope).
 */
export type LegacyKeySkipReason = 'wrong-type' | 'bad-json' | 'bad-key';

/** Progress of {@link migrateLegacy}, reported after every batch. */
export interface LegacyMigrationProgress {
  /** `discovering` while legacy keys are searched for, `copying` after. */
  phase: 'discovering' | 'copying';
  keysTotal: number;
  keysDone: number;
  /** Records to read (from HLEN; each is read twice when not a dry run: copy, then verify). */
  recordsTotal: number;
  recordsDone: number;
  copied: number;
  skipped: number;
  failed: number;
  elapsedMs: number;
}

/** What {@link migrateLegacy} did. */
export interface LegacyMigrationReport {
  dryRun: boolean;
  /** The signal aborted the run; run it again to resume where it stopped. */
  aborted: boolean;
  /** Legacy keys found. */
  keys: number;
  /** Scopes switched to the new layout by this call (in a dry run: that would be). */
  scopesMigrated: number;
  /** Scopes already switched by an earlier call. */
  scopesAlreadyMigrated: number;
  /** Legacy records read. */
  scanned: number;
  /** Runs copied into the new layout (in a dry run: that would be). */
  copied: number;
  /** Records not copied, by reason. */
  skipped: Partial<Record<LegacyRecordSkipReason, number>>;
  /** Keys not migrated, by reason. */
  skippedKeys: Partial<Record<LegacyKeySkipReason, number>>;
  /** Scopes left unmigrated by an error or a failed verification (see `failures`). */
  failed: number;
  /** The first 100 failures: the legacy key and why. */
  failures: { key: string; reason: string }[];
  /** Legacy keys deleted (`deleteSource`; in a dry run: that would be). */
  deletedKeys: number;
  durationMs: number;
}

/** Options of {@link migrateLegacy}. */
export interface MigrateLegacyOptions {
  /**
   * SCAN pattern of the legacy keys, matched on every master of a Cluster.
   * @default `${keyPrefix}runs:active:*` (from the store's `legacy` option)
   */
  match?: string;
  /** Migrate these scopes' legacy keys (`keyOf`) instead of scanning for keys. */
  scopes?: Scope[];
  /**
   * Records per HSCAN batch and per import script call.
   * @default 500 (at most 1000)
   */
  batchSize?: number;
  /** Count what would be copied, skipped and deleted; write nothing at all. */
  dryRun?: boolean;
  /**
   * Delete each legacy key once its scope is migrated (copied and verified), a few seconds after
   * the switch so reads in flight on the legacy key can finish.
   * @default false
   */
  deleteSource?: boolean;
  /** Called after every batch. */
  onProgress?: (progress: LegacyMigrationProgress) => void;
  /** Stops after the current batch; the next call resumes from the checkpoint. */
  signal?: AbortSignal;
}

/** The report's reason for a run the import did not copy. */
const skipReason = (
  status: Exclude<ImportStatus, 'inserted' | 'unchecked'>,
): LegacyRecordSkipReason =>
  status === 'lapsed' ? 'stale' : status === 'expired' ? 'ended' : status;

/** What the backfill's Redis calls are named in errors. */
const STEP = 'migrate';
/** How long a legacy key stays after its scope switched, so legacy reads in flight can finish. */
const DELETE_GRACE_MS = 2_000;
/** Verification passes that may still find runs to copy before the scope is left unmigrated. */
const MAX_VERIFY_PASSES = 3;
const MAX_FAILURES_LISTED = 100;

const optionsSchema = z
  .strictObject({
    match: z.string().min(1).max(1_024).optional(),
    scopes: z
      .array(z.custom<Scope>((v) => typeof v === 'object' && v !== null, 'must be scopes'))
      .optional(),
    batchSize: z.number().int().min(1).max(MAX_IMPORT_BATCH).default(500),
    dryRun: z.boolean().default(false),
    deleteSource: z.boolean().default(false),
    onProgress: z
      .custom<(p: LegacyMigrationProgress) => void>(
        (v) => typeof v === 'function',
        'must be a function',
      )
      .optional(),
    signal: z
      .custom<AbortSignal>((v) => v instanceof AbortSignal, 'must be an AbortSignal')
      .optional(),
  })
  .default({ batchSize: 500, dryRun: false, deleteSource: false });

type Options = z.output<typeof optionsSchema>;

/** Errors after which the whole run stops (the next call resumes); others fail one scope. */
const isInfrastructure = (error: ActiveRunsError) =>
  error.code === 'REDIS_UNAVAILABLE' || error.code === 'TIMEOUT';

/**
 * Copies the legacy hash-per-project layout into the store, scope by scope, and switches each
 * scope to the new layout once its copy is verified. Run it after every instance of the app runs
 * with the `legacy` option (rollout mode), so no write reaches only the legacy keys.
 *
 * Per scope: a copy pass reads the legacy key in HSCAN batches (bounded memory) and copies each
 * batch with one import script call, which never overwrites a run the new layout has and never
 * brings back one that ended meanwhile; the batch's checkpoint is stored in the same call, so a
 * crash or an abort resumes after the last batch. A verification pass then reads the key again:
 * once a full pass finds every run in the new layout, the scope's migrated flag is set and reads
 * and writes of it use the new layout only. Idempotent: a second run changes nothing.
 *
 * @param store a store created with the `legacy` option
 * @throws ActiveRunsError `INVALID_ARGUMENT` for bad options; `REDIS_UNAVAILABLE` / `TIMEOUT`
 *   when Redis fails (run it again to resume). Other failures are per scope, in the report.
 */
export async function migrateLegacy<TData>(
  store: ActiveRunStore<TData>,
  options?: MigrateLegacyOptions,
): Promise<LegacyMigrationReport> {
  const ctx = legacyContextOf<TData>(store);
  if (!ctx) {
    throw new ActiveRunsError(
      'INVALID_ARGUMENT',
      'migrateLegacy needs a store created with the legacy option (createActiveRunStore({ ..., legacy: {} })).',
      { details: { field: 'store' } },
    );
  }
  const opts = parseInput(optionsSchema, options, 'options');
  if (opts.match !== undefined && opts.scopes !== undefined) {
    throw new ActiveRunsError('INVALID_ARGUMENT', 'options: pass match or scopes, not both.', {
      details: { field: 'options.scopes' },
    });
  }
  if (opts.scopes === undefined && !ctx.canScan) {
    throw new ActiveRunsError(
      'INVALID_ARGUMENT',
      'options: with a custom legacy.keyOf, keys found by SCAN cannot be mapped to scopes; give the store a legacy.scopeOf, or pass options.scopes.',
      { details: { field: 'options.match' } },
    );
  }
  return new Backfill(ctx, opts).run();
}

class Backfill<TData> {
  private readonly started = Date.now();
  private readonly report: LegacyMigrationReport;
  private readonly progress: LegacyMigrationProgress;
  /** Reads per record: copy then verify, or one pass for a dry run. */
  private readonly passes: number;
  private readonly toDelete: string[] = [];
  private lastSwitch = 0;

  constructor(
    private readonly ctx: LegacyContext<TData>,
    private readonly opts: Options,
  ) {
    this.report = {
      dryRun: opts.dryRun,
      aborted: false,
      keys: 0,
      scopesMigrated: 0,
      scopesAlreadyMigrated: 0,
      scanned: 0,
      copied: 0,
      skipped: {},
      skippedKeys: {},
      failed: 0,
      failures: [],
      deletedKeys: 0,
      durationMs: 0,
    };
    this.progress = {
      phase: 'discovering',
      keysTotal: 0,
      keysDone: 0,
      recordsTotal: 0,
      recordsDone: 0,
      copied: 0,
      skipped: 0,
      failed: 0,
      elapsedMs: 0,
    };
    this.passes = opts.dryRun ? 1 : 2;
  }

  async run(): Promise<LegacyMigrationReport> {
    this.emit();
    const found = await findLegacyKeys(this.ctx, {
      scopes: this.opts.scopes,
      match: this.opts.match ?? this.ctx.match,
    });
    this.report.keys = found.refs.length + found.badKeys.length;
    if (found.badKeys.length > 0) this.report.skippedKeys['bad-key'] = found.badKeys.length;
    const sizes = await this.sizes(found.refs);
    this.progress.phase = 'copying';
    this.progress.keysTotal = found.refs.length;
    this.progress.recordsTotal = sizes.reduce((a, b) => a + b, 0) * this.passes;
    this.emit();
    for (const [i, ref] of found.refs.entries()) {
      if (this.opts.signal?.aborted) break;
      const doneBefore = this.progress.recordsDone;
      try {
        await this.migrateScope(ref);
      } catch (error) {
        const mapped = fromRedisError(error, 'migrate', true);
        if (isInfrastructure(mapped)) throw mapped;
        this.fail(ref.key, mapped.message);
      }
      // whatever the passes read, the key counts as its HLEN in the progress total
      if (!this.opts.signal?.aborted) {
        this.progress.recordsDone = Math.max(
          this.progress.recordsDone,
          doneBefore + sizes[i]! * this.passes,
        );
        this.progress.keysDone++;
      }
      this.emit();
    }
    this.report.aborted = this.opts.signal?.aborted === true;
    await this.deleteSources();
    this.report.durationMs = Date.now() - this.started;
    return this.report;
  }

  private async migrateScope(ref: LegacyKeyRef): Promise<void> {
    const keys = migrationKeys(this.ctx.prefix, ref.scope);
    const [[migrated, checkpoint], shape] = (await settleAll([
      this.ctx.calls.command('hmget', [keys.state, MIGRATED_FIELD, CURSOR_FIELD], STEP),
      probeLegacyKey(this.ctx.calls, ref.key, STEP),
    ])) as [[string | null, string | null], LegacyKeyShape];
    if (migrated !== null) {
      this.report.scopesAlreadyMigrated++;
      if (shape.kind === 'hash' || shape.kind === 'json') this.scheduleDelete(ref.key);
      return;
    }
    if (shape.kind === 'wrong-type' || shape.kind === 'bad-json') {
      this.report.skippedKeys[shape.kind] = (this.report.skippedKeys[shape.kind] ?? 0) + 1;
      return;
    }
    // a dry run reads everything again; a real one resumes from its checkpoint
    const resume = this.opts.dryRun ? parseCheckpoint(null) : parseCheckpoint(checkpoint);
    if (resume.pass === 'copy') {
      await this.pass(ref, 'copy', shape, resume.cursor);
      if (this.opts.signal?.aborted) return;
    }
    if (this.opts.dryRun) {
      this.report.scopesMigrated++;
      if (shape.kind !== 'none') this.scheduleDelete(ref.key);
      return;
    }
    let cursor = resume.pass === 'verify' ? resume.cursor : '0';
    for (let attempt = 0; ; attempt++) {
      const late = await this.pass(
        ref,
        'verify',
        await probeLegacyKey(this.ctx.calls, ref.key, STEP),
        cursor,
      );
      if (this.opts.signal?.aborted) return;
      if (late === 0 && cursor === '0') break;
      if (attempt + 1 >= MAX_VERIFY_PASSES) {
        this.fail(
          ref.key,
          `verification kept finding runs that were not copied (${late} in the last pass): something still writes to the legacy key without the rollout store; deploy the legacy option everywhere, then run the migration again`,
        );
        return;
      }
      cursor = '0'; // a resumed pass saw only part of the key: verify it whole
    }
    await this.switchScope(ref);
  }

  /**
   * One pass over a legacy key: `copy` imports every batch (or checks it, in a dry run) and counts
   * what it finds; `verify` imports again and only counts runs it still had to copy.
   * @returns runs copied by this pass
   */
  private async pass(
    ref: LegacyKeyRef,
    pass: BackfillPass,
    shape: Awaited<ReturnType<typeof probeLegacyKey>>,
    cursor: string,
  ): Promise<number> {
    const startedAt = Date.now();
    const meta = scopeKeys(this.ctx.prefix, ref.scope).meta;
    const redisStart = await scopeNow(this.ctx.calls, meta, STEP);
    const now = () => redisStart + (Date.now() - startedAt);
    let copied = 0;
    const batch = async (entries: LegacyEntry[], next: string) => {
      copied += await this.batch(ref, pass, entries, now(), next);
    };
    if (shape.kind === 'hash') {
      for await (const { entries, cursor: next } of scanLegacyHash(this.ctx.calls, ref.key, {
        count: this.opts.batchSize,
        cursor,
        step: STEP,
      })) {
        await batch(entries, next);
        if (this.opts.signal?.aborted) break;
      }
    } else if (shape.kind === 'json') {
      // the variant was always read whole; its batches share no cursor, so a resume restarts it
      for (let i = 0; i < shape.entries.length; i += this.opts.batchSize) {
        await batch(shape.entries.slice(i, i + this.opts.batchSize), '');
        if (this.opts.signal?.aborted) break;
      }
    }
    return copied;
  }

  /** Maps, imports and counts one batch; stores the pass's checkpoint with it. */
  private async batch(
    ref: LegacyKeyRef,
    pass: BackfillPass,
    entries: LegacyEntry[],
    now: number,
    next: string,
  ): Promise<number> {
    const records: MappedRecord<TData>[] = [];
    const counting = pass === 'copy';
    for (const entry of entries) {
      const mapped = mapEntry(this.ctx, ref.key, entry, now);
      if (mapped.ok) records.push(mapped.record);
      else if (counting) this.skip(mapped.reason);
    }
    if (counting) this.report.scanned += entries.length;
    this.progress.recordsDone += entries.length;
    const mode = this.opts.dryRun ? 'check' : 'write';
    // the end of a pass resumes at the verification (the switch follows the last one)
    const checkpoint =
      mode === 'write' && next !== ''
        ? next === '0'
          ? checkpointValue('verify', '0')
          : checkpointValue(pass, next)
        : undefined;
    let statuses: ImportStatus[] = [];
    if (records.length > 0) {
      statuses = await importRecords(this.ctx, ref.scope, records, { mode, checkpoint });
    } else if (checkpoint) {
      const state = migrationKeys(this.ctx.prefix, ref.scope).state;
      await this.ctx.calls.command('hset', [state, CURSOR_FIELD, checkpoint], STEP, true);
    }
    let copied = 0;
    for (const status of statuses) {
      if (status === 'inserted') copied++;
      else if (counting && status !== 'unchecked') this.skip(skipReason(status));
    }
    if (counting || copied > 0) {
      this.report.copied += copied;
      this.progress.copied += copied;
    }
    this.emit();
    // the scope's outbox is too large to check the rest against: the scope stays in rollout mode
    // (its checkpoint did not move past this batch), and a later run resumes it
    const last = statuses.length - 1;
    if (statuses[last] === 'unchecked') throw uncheckedError(ref.scope, records[last]!.run.id);
    return copied;
  }

  /** Sets the scope's migrated flag (reads and writes switch to the new layout) and drops its rollout state. */
  private async switchScope(ref: LegacyKeyRef): Promise<void> {
    const keys = migrationKeys(this.ctx.prefix, ref.scope);
    await this.ctx.calls.script(
      SWITCH_SCOPE,
      'migrate (switch)',
      true,
      [keys.state, keys.tombstones],
      [Date.now()],
    );
    this.report.scopesMigrated++;
    this.lastSwitch = Date.now();
    this.scheduleDelete(ref.key);
  }

  private scheduleDelete(key: string): void {
    if (this.opts.deleteSource) this.toDelete.push(key);
  }

  /** Deletes the legacy keys of migrated scopes, once legacy reads in flight had time to end. */
  private async deleteSources(): Promise<void> {
    if (this.toDelete.length === 0) return;
    if (this.opts.dryRun) {
      this.report.deletedKeys = this.toDelete.length;
      return;
    }
    const wait = this.lastSwitch + DELETE_GRACE_MS - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    for (const key of this.toDelete) {
      const deleted = await this.ctx.calls.command('unlink', [key], 'migrate (delete)', true);
      this.report.deletedKeys += Number(deleted);
    }
  }

  private async sizes(refs: LegacyKeyRef[]): Promise<number[]> {
    const sizes: number[] = [];
    for (let i = 0; i < refs.length; i += 1_000) {
      const chunk = refs.slice(i, i + 1_000);
      // a JSON-string key has no HLEN: it counts as 0 in the progress total
      const wrongType = (error: unknown) => {
        if (isWrongType(error)) return 0;
        throw error;
      };
      const hlen = (key: string) =>
        this.ctx.calls.command('hlen', [key], 'migrate (hlen)').then(Number, wrongType);
      sizes.push(...(await settleAll(chunk.map((ref) => hlen(ref.key)))));
    }
    return sizes;
  }

  private skip(reason: LegacyRecordSkipReason): void {
    countSkip(this.report.skipped, reason as LegacySkipReason);
    this.progress.skipped++;
  }

  private fail(key: string, reason: string): void {
    this.report.failed++;
    this.progress.failed++;
    if (this.report.failures.length < MAX_FAILURES_LISTED)
      this.report.failures.push({ key, reason });
  }

  private emit(): void {
    this.progress.elapsedMs = Date.now() - this.started;
    this.opts.onProgress?.({ ...this.progress });
  }
}
