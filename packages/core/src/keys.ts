import calculateSlot from 'cluster-key-slot';
import { MAX_ID_LENGTH } from './constants.js';
import { ActiveRunsError, readInput } from './errors.js';

/** Where a run lives: a project inside a workspace. Strings or integers. */
export interface Scope {
  workspaceId: string | number;
  projectId: string | number;
}

/**
 * Characters a scope part or a run id may contain: printable ASCII except space, `{`, `}` and `:`.
 * Braces would break the Redis Cluster hash tag and `:` separates the two scope parts, so
 * accepting them could make two different scopes share keys.
 */
const SAFE_TOKEN = /^[!-9;-z|~]+$/;

/** Why a token is unsafe, for the error message. */
function describeUnsafe(value: string): string {
  if (value.length === 0) return 'is empty';
  if (value.length > MAX_ID_LENGTH) return `is longer than ${MAX_ID_LENGTH} characters`;
  if (/[{}]/.test(value))
    return 'contains "{" or "}" (they would break the Redis Cluster hash tag)';
  if (value.includes(':')) return 'contains ":" (it separates key parts)';
  if (/\s/.test(value)) return 'contains whitespace or a newline';
  return 'contains characters outside printable ASCII';
}

/**
 * Validates a run id or scope part and returns it as a string.
 * @throws ActiveRunsError `INVALID_ARGUMENT` with a message naming the field.
 */
export function parseToken(value: unknown, field: string): string {
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && value >= 0) return String(value);
    throw new ActiveRunsError(
      'INVALID_ARGUMENT',
      `${field} must be a non-negative safe integer or a string, got ${value}.`,
      { details: { field } },
    );
  }
  if (typeof value !== 'string') {
    throw new ActiveRunsError(
      'INVALID_ARGUMENT',
      `${field} must be a string${field === 'id' ? '' : ' or an integer'}, got ${value === null ? 'null' : typeof value}.`,
      { details: { field } },
    );
  }
  if (value.length === 0 || value.length > MAX_ID_LENGTH || !SAFE_TOKEN.test(value)) {
    throw new ActiveRunsError(
      'INVALID_ARGUMENT',
      `${field} ${describeUnsafe(value)}; use 1-${MAX_ID_LENGTH} printable ASCII characters without spaces, "{", "}" or ":".`,
      { details: { field } },
    );
  }
  return value;
}

/** Validates a run id (a UUID in most apps). */
export function parseRunId(value: unknown): string {
  return parseToken(value, 'id');
}

/** The Redis keys of one scope; all share the hash tag `{workspaceId:projectId}`. */
export interface ScopeKeys {
  /** `workspaceId:projectId`, the content of the hash tag; also the scope's registry member. */
  readonly tag: string;
  /** HASH id -> encoded run. */
  readonly runs: string;
  /** ZSET id by phase-packed time: running (by startedAt) above queued (by queuedAt). */
  readonly index: string;
  /** ZSET of runs with a source, by source rank then phase then time (the source filter). */
  readonly bySource: string;
  /** ZSET id by source rank, phase and lease deadline (lapsed runs are found per range). */
  readonly lease: string;
  /** HASH of counts by status and source, source ranks, event sequence, key expiry. */
  readonly meta: string;
  /** Per-slot ZSET of scopes with runs, scored by a lower bound of their earliest lease. */
  readonly registry: string;
  /** Pub/sub channel of the scope's change events. */
  readonly events: string;
  /** HASH of expired-run reports not yet acknowledged by the hook (the sweeper's outbox). */
  readonly expired: string;
  /** ZSET of the outbox's reports by when they are due (again): new ones at once, retries later. */
  readonly expiredDue: string;
}

/** Validated `{ workspaceId, projectId }` as strings. */
export interface ParsedScope {
  workspaceId: string;
  projectId: string;
}

/** Validates a scope; integer parts become decimal strings, so `1` and `"1"` are the same scope. */
export function parseScope(scope: unknown): ParsedScope {
  if (scope === null || typeof scope !== 'object') {
    throw new ActiveRunsError(
      'INVALID_ARGUMENT',
      'scope must be an object { workspaceId, projectId }.',
      { details: { field: 'scope' } },
    );
  }
  const { workspaceId, projectId } = readInput('scope', () => {
    const { workspaceId, projectId } = scope as Record<string, unknown>;
    return { workspaceId, projectId };
  });
  return {
    workspaceId: parseToken(workspaceId, 'scope.workspaceId'),
    projectId: parseToken(projectId, 'scope.projectId'),
  };
}

let slotTags: string[] | undefined;

/**
 * For every cluster slot, a short tag that hashes to it. The scope registry of a slot lives
 * under that tag, so a write script can update the registry atomically with the scope's keys
 * (same slot) and the sweeper can find every registry without SCAN.
 */
export function slotTag(slot: number): string {
  if (!slotTags) {
    const tags = new Array<string>(16384);
    let found = 0;
    for (let n = 0; found < 16384; n++) {
      const tag = `r${n.toString(36)}`;
      const s = calculateSlot(tag);
      if (tags[s] === undefined) {
        tags[s] = tag;
        found++;
      }
    }
    slotTags = tags;
  }
  return slotTags[slot]!;
}

/** The registry key of one cluster slot. */
export function registryKey(prefix: string, slot: number): string {
  return `${prefix}:{${slotTag(slot)}}:scopes`;
}

/** Builds the keys of a validated scope. */
export function scopeKeys(prefix: string, scope: ParsedScope): ScopeKeys {
  const tag = `${scope.workspaceId}:${scope.projectId}`;
  const base = `${prefix}:{${tag}}`;
  return {
    tag,
    runs: `${base}:runs`,
    index: `${base}:idx`,
    bySource: `${base}:src`,
    lease: `${base}:lease`,
    meta: `${base}:meta`,
    registry: registryKey(prefix, calculateSlot(base)),
    events: `${base}:events`,
    expired: `${base}:expired`,
    expiredDue: `${base}:expired-due`,
  };
}

/** KEYS 1-6 of the write scripts (and the page script): runs, index, by-source, lease, meta, registry. */
export function writeKeys(keys: ScopeKeys): string[] {
  return [keys.runs, keys.index, keys.bySource, keys.lease, keys.meta, keys.registry];
}

/** KEYS 1-8 of the scripts that also write the sweeper's outbox (enqueue, sweep). */
export function outboxKeys(keys: ScopeKeys): string[] {
  return [...writeKeys(keys), keys.expired, keys.expiredDue];
}

/** Parses a registry member (`workspaceId:projectId`) back into a scope. */
export function scopeFromTag(tag: string): ParsedScope {
  const at = tag.indexOf(':');
  return { workspaceId: tag.slice(0, at), projectId: tag.slice(at + 1) };
}
