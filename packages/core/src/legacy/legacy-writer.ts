import type { ActiveRun } from '../codec.js';
import type { LegacyCalls } from './calls.js';
import { isWrongType, settleAll } from './calls.js';
import type { LegacyContext } from './context.js';
import type { LegacyEntry } from './legacy-key.js';
import { jsonEntries } from './legacy-key.js';
import {
  COMPARE_AND_SET,
  DELETE_IF_UNCHANGED,
  REPLACE_IF_UNCHANGED,
  SET_IF_EXISTS,
} from './scripts.js';

/**
 * The rollout mode's legacy side: every write of a scope not yet migrated is mirrored into its
 * legacy key, after the new layout (which is authoritative), so the legacy list, and code that
 * still reads it, sees every change. A hash gets single-field commands; the older JSON-string
 * variant is rewritten whole with a compare-and-set (that variant was always read and written
 * whole). Each write also sets the key's expiry to the window: every record in it is older than
 * the write, so none is still listed when the key expires, and an abandoned key goes away.
 *
 * A run is its id and its `queuedAt`: an id is reusable as soon as its run ended or lapsed (an
 * enqueue replaces a lapsed run at once), so the record under an id may belong to an earlier run
 * whose expiry is not handled yet. An insert replaces such a record, and the expiry of a run
 * removes the record only while it is still that run's (both compare-and-set on the field).
 */

/** Attempts of a compare-and-set rewrite before giving up (only concurrent writers retry). */
const CAS_ATTEMPTS = 20;

/** Writes to the legacy keys of scopes that are not migrated yet. */
export class LegacyWriter<TData> {
  /** Its calls: those of the rollout operation it writes for (`ctx.calls`). */
  private readonly calls: LegacyCalls;

  constructor(private readonly ctx: LegacyContext<TData>) {
    this.calls = ctx.calls;
  }

  /**
   * Adds a new run's record. Never replaces the record of the same run (it may hold newer
   * progress); replaces one of an earlier run with the same id (see the header).
   */
  async insert(key: string, run: ActiveRun<TData>): Promise<void> {
    const value = JSON.stringify(this.ctx.encode(run));
    const earlier = (entry: LegacyEntry) => this.queuedAtOf(key, entry) !== run.queuedAt;
    await this.guard(
      'legacy insert',
      key,
      async () => {
        const [added] = await settleAll([
          this.calls.command('hsetnx', [key, run.id, value], 'legacy insert', true),
          this.calls.command('pexpire', [key, this.ctx.windowMs], 'legacy insert', true),
        ]);
        if (Number(added) === 0) await this.replaceField(key, run.id, earlier, value);
      },
      (entries) => {
        const at = this.find(key, entries, run.id);
        if (at === -1) return [...entries, this.entry(run)];
        if (!earlier(entries[at]!)) return null;
        const next = [...entries];
        next[at] = this.entry(run);
        return next;
      },
    );
  }

  /**
   * Removes the record of an expired run, only while it is that run's (same `queuedAt`): a newer
   * run may have taken the id since.
   * @returns whether the record was that run's (and is gone)
   */
  async removeRun(key: string, run: ActiveRun<TData>): Promise<boolean> {
    const same = (entry: LegacyEntry) => this.queuedAtOf(key, entry) === run.queuedAt;
    let removed = false;
    await this.guard(
      'legacy remove',
      key,
      async () => {
        removed = await this.replaceField(key, run.id, same, null);
      },
      (entries) => {
        const at = this.find(key, entries, run.id);
        removed = at !== -1 && same(entries[at]!);
        return removed ? entries.filter((_, i) => i !== at) : null;
      },
    );
    return removed;
  }

  /** Whether the legacy record under a run's id is that run's (same `queuedAt`). */
  async holds(key: string, run: ActiveRun<TData>): Promise<boolean> {
    const entry = await this.read(key, run.id);
    return entry !== null && this.queuedAtOf(key, entry) === run.queuedAt;
  }

  /** Replaces a run's record if it is still there (a run that ended meanwhile stays gone). */
  async update(key: string, run: ActiveRun<TData>): Promise<void> {
    const value = JSON.stringify(this.ctx.encode(run));
    await this.guard(
      'legacy update',
      key,
      async () => {
        await this.calls.script(
          SET_IF_EXISTS,
          'legacy update',
          true,
          [key],
          [run.id, value, this.ctx.windowMs],
        );
      },
      (entries) => {
        const at = this.find(key, entries, run.id);
        if (at === -1) return null;
        const next = [...entries];
        next[at] = this.entry(run);
        return next;
      },
    );
  }

  /** Removes a run's record; returns it as it was, or null. */
  async remove(key: string, id: string): Promise<LegacyEntry | null> {
    let removed: LegacyEntry | null = null;
    await this.guard(
      'legacy remove',
      key,
      async () => {
        const [value] = await settleAll([
          this.calls.command('hget', [key, id], 'legacy remove'),
          this.calls.command('hdel', [key, id], 'legacy remove', true),
        ]);
        removed = value === null ? null : { id, value: String(value) };
      },
      (entries) => {
        const at = this.find(key, entries, id);
        if (at === -1) return null;
        removed = entries[at]!;
        return entries.filter((_, i) => i !== at);
      },
    );
    return removed;
  }

  /** A run's legacy record, or null. */
  async read(key: string, id: string): Promise<LegacyEntry | null> {
    try {
      const value = await this.calls.command('hget', [key, id], 'legacy read');
      return value === null ? null : { id, value: String(value) };
    } catch (error) {
      if (!isWrongType(error)) throw error;
    }
    const current = await this.readJson(key, 'legacy read');
    if (!current) return null;
    const at = this.find(key, current.entries, id);
    return at === -1 ? null : current.entries[at]!;
  }

  /**
   * Runs the hash write; when the key holds the JSON-string variant instead, rewrites the string
   * with `change` (null: nothing to change) by compare-and-set, retried while others write it.
   */
  private async guard(
    operation: string,
    key: string,
    hash: () => Promise<void>,
    change: (entries: LegacyEntry[]) => LegacyEntry[] | null,
  ): Promise<void> {
    try {
      await hash();
      return;
    } catch (error) {
      if (!isWrongType(error)) throw error;
    }
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const current = await this.readJson(key, operation);
      if (!current) return; // not a JSON variant we can rewrite: leave it alone
      const next = change(current.entries);
      if (!next) return;
      const text = JSON.stringify(current.isArray ? next.map(recordOf) : objectOf(next));
      const args = [current.text, text, this.ctx.windowMs];
      if ((await this.calls.script(COMPARE_AND_SET, operation, true, [key], args)) === 1) return;
    }
    this.ctx.logger.warn?.(
      { key },
      `active-runs: ${operation} gave up after ${CAS_ATTEMPTS} concurrent rewrites of a legacy JSON string`,
    );
  }

  private async readJson(
    key: string,
    step: string,
  ): Promise<{ text: string; entries: LegacyEntry[]; isArray: boolean } | null> {
    const text = (await this.calls.command('get', [key], step)) as string | null;
    if (text === null) return null;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return null;
    }
    const entries = jsonEntries(parsed);
    return entries ? { text, entries, isArray: Array.isArray(parsed) } : null;
  }

  /**
   * Replaces (or, with null, deletes) a hash field while `matches` its current record, by
   * compare-and-set, re-read while others rewrite it. @returns whether it was changed
   */
  private async replaceField(
    key: string,
    id: string,
    matches: (entry: LegacyEntry) => boolean,
    value: string | null,
  ): Promise<boolean> {
    const step = value === null ? 'legacy remove' : 'legacy insert';
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const current = (await this.calls.command('hget', [key, id], step)) as string | null;
      if (current === null || !matches({ id, value: current })) return false;
      const changed =
        value === null
          ? await this.calls.script(DELETE_IF_UNCHANGED, step, true, [key], [id, current])
          : await this.calls.script(
              REPLACE_IF_UNCHANGED,
              step,
              true,
              [key],
              [id, current, value, this.ctx.windowMs],
            );
      if (changed === 1) return true;
    }
    this.ctx.logger.warn?.(
      { key, id },
      `active-runs: a legacy record rewrite gave up after ${CAS_ATTEMPTS} concurrent changes`,
    );
    return false;
  }

  /** The `queuedAt` a legacy record gives its run (NaN when it does not decode). */
  private queuedAtOf(key: string, entry: LegacyEntry): number {
    try {
      const parsed = 'parsed' in entry ? entry.parsed : JSON.parse(entry.value);
      const queuedAt = this.ctx.decode(parsed, { id: entry.id, key })?.queuedAt;
      return typeof queuedAt === 'number' ? queuedAt : Number.NaN;
    } catch {
      return Number.NaN;
    }
  }

  private entry(run: ActiveRun<TData>): LegacyEntry {
    return { id: run.id, parsed: this.ctx.encode(run) };
  }

  /** Index of the entry of a run id (by its map key, or by what `decode` says its id is). */
  private find(key: string, entries: LegacyEntry[], id: string): number {
    return entries.findIndex((entry) => {
      if (entry.id !== null) return entry.id === id;
      try {
        const parsed = 'parsed' in entry ? entry.parsed : JSON.parse(entry.value);
        return this.ctx.decode(parsed, { id: null, key })?.id === id;
      } catch {
        return false;
      }
    });
  }
}

function recordOf(entry: LegacyEntry): unknown {
  return 'parsed' in entry ? entry.parsed : JSON.parse(entry.value);
}

function objectOf(entries: LegacyEntry[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const entry of entries) if (entry.id !== null) out[entry.id] = recordOf(entry);
  return out;
}
