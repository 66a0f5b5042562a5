/**
 * The keys of the scopes a store writes to, built once per scope instead of once per call: a key
 * set is ten strings, a CRC16 of the scope's tag (the registry's slot) and two arrays, all garbage
 * a call later, which a write paid for in allocations and GC (issue 11). The scope is still
 * validated on every call; only what is derived from the validated scope is kept.
 */
import type { ParsedScope, ScopeKeys } from './keys.js';
import { outboxKeys, scopeKeys, writeKeys } from './keys.js';

/** Scopes kept per store; past it the cache starts over (a store serving more scopes than this just builds keys more often). */
const MAX_SCOPES = 4_096;

/** A scope's keys and the KEYS arrays of the write scripts (shared: never mutate them). */
export interface CachedScopeKeys {
  readonly keys: ScopeKeys;
  /** KEYS 1-6 of the write scripts. */
  readonly write: readonly string[];
  /** KEYS 1-8 of the scripts that also write the sweeper's outbox. */
  readonly outbox: readonly string[];
  /** KEYS of end: the write keys and the outbox (whether reports wait). */
  readonly end: readonly string[];
}

export class ScopeKeyCache {
  private readonly entries = new Map<string, CachedScopeKeys>();

  constructor(private readonly prefix: string) {}

  get(scope: ParsedScope): CachedScopeKeys {
    const tag = `${scope.workspaceId}:${scope.projectId}`;
    let entry = this.entries.get(tag);
    if (!entry) {
      const keys = scopeKeys(this.prefix, scope);
      const write = writeKeys(keys);
      entry = {
        keys,
        write: Object.freeze(write),
        outbox: Object.freeze(outboxKeys(keys)),
        end: Object.freeze([...write, keys.expired]),
      };
      if (this.entries.size >= MAX_SCOPES) this.entries.clear();
      this.entries.set(tag, entry);
    }
    return entry;
  }
}
