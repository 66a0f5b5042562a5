import type { ParsedScope } from '../keys.js';

/**
 * Per-scope migration state, under the scope's own hash tag (same slot as its runs, so the
 * import script updates it atomically with the copy):
 *
 *   <prefix>:{w:p}:migration  HASH   migrated -> ms when the backfill switched the scope (never
 *                                    removed: the flag only goes one way), cursor -> where a
 *                                    backfill of the scope resumes (`copy:<hscan cursor>`).
 *                                    No expiry: a scope whose runs all ended keeps its flag, so
 *                                    it never falls back to the legacy hash.
 *   <prefix>:{w:p}:ended      ZSET   ids ended or expired through the rollout store before the
 *                                    switch, by time: the import never copies them back. Trimmed
 *                                    to the window, expires with it, deleted at the switch.
 */
export interface MigrationKeys {
  state: string;
  tombstones: string;
}

/** The migration keys of a scope. */
export function migrationKeys(prefix: string, scope: ParsedScope): MigrationKeys {
  const base = `${prefix}:{${scope.workspaceId}:${scope.projectId}}`;
  return { state: `${base}:migration`, tombstones: `${base}:ended` };
}

/** Field of the state hash set when the scope is switched to the new layout. */
export const MIGRATED_FIELD = 'migrated';
/** Field of the state hash holding the backfill's resume point. */
export const CURSOR_FIELD = 'cursor';

/** The passes of a scope's backfill, in order; a checkpoint names the pass and its HSCAN cursor. */
export type BackfillPass = 'copy' | 'verify';

/** A checkpoint value: `<pass>:<hscan cursor>`. */
export function checkpointValue(pass: BackfillPass, cursor: string): string {
  return `${pass}:${cursor}`;
}

/** Parses a checkpoint; anything unknown restarts the scope from the beginning. */
export function parseCheckpoint(value: string | null | undefined): {
  pass: BackfillPass;
  cursor: string;
} {
  const match = /^(copy|verify):(\d+)$/.exec(value ?? '');
  return match
    ? { pass: match[1] as BackfillPass, cursor: match[2]! }
    : { pass: 'copy', cursor: '0' };
}

/**
 * Scopes this process has seen migrated. The flag only goes one way, so once seen it is never
 * read again: a migrated scope costs no extra round trip. Bounded: past `max` entries the set
 * starts over (a forgotten scope costs one more flag read).
 */
export class MigratedScopes {
  private readonly tags = new Set<string>();
  constructor(private readonly max = 100_000) {}

  has(tag: string): boolean {
    return this.tags.has(tag);
  }

  add(tag: string): void {
    if (this.tags.size >= this.max) this.tags.clear();
    this.tags.add(tag);
  }
}
