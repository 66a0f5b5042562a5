import type { ActiveRun } from '../codec.js';
import type { LegacyContext } from './context.js';
import { legacyError, legacyScript } from './context.js';
import type { LegacyEntry } from './legacy-key.js';
import { jsonEntries } from './legacy-key.js';

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

// Legacy keys have no hash tag: each script touches its one key, so it runs on a Cluster too.
const SET_IF_EXISTS = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`;
// KEYS: 1 legacy hash; ARGV: 1 field, 2 expected value, 3 new value ('' deletes), 4 ttl ms
const SET_IF_UNCHANGED = `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
return 1`;
const COMPARE_AND_SET = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1`;

/** Attempts of a compare-and-set rewrite before giving up (only concurrent writers retry). */
const CAS_ATTEMPTS = 20;

type Client = {
  hsetnx(key: string, field: string, value: string): Promise<number>;
  hdel(key: string, field: string): Promise<number>;
  hget(key: string, field: string): Promise<string | null>;
  pexpire(key: string, ms: number): Promise<number>;
  type(key: string): Promise<string>;
  get(key: string): Promise<string | null>;
};

type ScriptCall = (...args: (string | number)[]) => Promise<unknown>;

const isWrongType = (error: unknown) =>
  error instanceof Error && error.message.startsWith('WRONGTYPE');

/** Writes to the legacy keys of scopes that are not migrated yet. */
export class LegacyWriter<TData> {
  private readonly client: Client;
  private readonly setIfExists: ScriptCall;
  private readonly compareAndSet: ScriptCall;
  private readonly setIfUnchanged: ScriptCall;

  constructor(private readonly ctx: LegacyContext<TData>) {
    this.client = ctx.redis as unknown as Client;
    this.setIfExists = legacyScript(ctx.redis, 'setifexists', 1, SET_IF_EXISTS);
    this.compareAndSet = legacyScript(ctx.redis, 'cas', 1, COMPARE_AND_SET);
    this.setIfUnchanged = legacyScript(ctx.redis, 'fieldcas', 1, SET_IF_UNCHANGED);
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
        const [added] = await Promise.all([
          this.client.hsetnx(key, run.id, value),
          this.client.pexpire(key, this.ctx.windowMs),
        ]);
        if (added === 0) await this.replaceField(key, run.id, earlier, value);
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
        removed = await this.replaceField(key, run.id, same, '');
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
        await this.setIfExists(key, run.id, value, this.ctx.windowMs);
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
        const [value] = await Promise.all([this.client.hget(key, id), this.client.hdel(key, id)]);
        removed = value === null ? null : { id, value };
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
      const value = await this.client.hget(key, id);
      return value === null ? null : { id, value };
    } catch (error) {
      if (!isWrongType(error)) throw legacyError(this.ctx, error, 'legacy read', false);
    }
    const current = await this.readJson(key);
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
      if (!isWrongType(error)) throw legacyError(this.ctx, error, operation, true);
    }
    try {
      for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
        const current = await this.readJson(key);
        if (!current) return; // not a JSON variant we can rewrite: leave it alone
        const next = change(current.entries);
        if (!next) return;
        const text = JSON.stringify(current.isArray ? next.map(recordOf) : objectOf(next));
        if ((await this.compareAndSet(key, current.text, text, this.ctx.windowMs)) === 1) return;
      }
    } catch (error) {
      throw legacyError(this.ctx, error, operation, true);
    }
    this.ctx.logger.warn?.(
      { key },
      `active-runs: ${operation} gave up after ${CAS_ATTEMPTS} concurrent rewrites of a legacy JSON string`,
    );
  }

  private async readJson(
    key: string,
  ): Promise<{ text: string; entries: LegacyEntry[]; isArray: boolean } | null> {
    const text = await this.client.get(key);
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
   * Replaces (or, with '', deletes) a hash field while `matches` its current record, by
   * compare-and-set, re-read while others rewrite it. @returns whether it was changed
   */
  private async replaceField(
    key: string,
    id: string,
    matches: (entry: LegacyEntry) => boolean,
    value: string,
  ): Promise<boolean> {
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const current = await this.client.hget(key, id);
      if (current === null || !matches({ id, value: current })) return false;
      if ((await this.setIfUnchanged(key, id, current, value, this.ctx.windowMs)) === 1)
        return true;
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
