import { RedisCaller } from '../call/caller.js';
import type { ParsedScope, Scope } from '../keys.js';
import { parseScope } from '../keys.js';
import type { RedisLike } from '../schemas.js';
import { directCalls } from './calls.js';
import type { LegacyContext } from './context.js';

/** A legacy key and the scope it belongs to. */
export interface LegacyKeyRef {
  key: string;
  scope: ParsedScope;
}

/** Legacy keys to migrate, and keys matched by SCAN that name no scope. */
export interface FoundLegacyKeys {
  refs: LegacyKeyRef[];
  badKeys: string[];
}

/**
 * Finds the legacy keys to migrate: the given scopes' keys (`keyOf`), or every key matching
 * `match`, found with SCAN on every master of a Cluster (a SCAN only sees the node it runs on)
 * or on the one server. Each key is mapped back to its scope with `scopeOf`.
 *
 * The store's caller addresses a Cluster by key slot and cannot pick a node, so the SCANs of a
 * Cluster go through a caller of each master's own connection: the same deadline and typed
 * outcomes (a SCAN writes nothing, so there is no ghost write to guard against), refused once
 * the store closes; `close()` does not wait for them (it settles the store's caller only).
 */
export async function findLegacyKeys<TData>(
  ctx: LegacyContext<TData>,
  options: { scopes?: Scope[] | undefined; match: string; count?: number },
): Promise<FoundLegacyKeys> {
  if (options.scopes) {
    const seen = new Set<string>();
    const refs: LegacyKeyRef[] = [];
    for (const scope of options.scopes) {
      const parsed = parseScope(scope);
      const key = ctx.keyOf(parsed);
      if (!seen.has(key)) refs.push({ key, scope: parsed });
      seen.add(key);
    }
    return { refs, badKeys: [] };
  }
  const cluster = ctx.redis as { isCluster: boolean; nodes?(role: 'master'): RedisLike[] };
  const nodes =
    cluster.isCluster && cluster.nodes
      ? cluster.nodes('master').map((node) => directCalls(new RedisCaller(node), ctx.gate))
      : [ctx.calls];
  const keys = new Set<string>();
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, batch] = (await node.command(
        'scan',
        [cursor, 'MATCH', options.match, 'COUNT', options.count ?? 1_000],
        'migrate (scan)',
      )) as [string, string[]];
      for (const key of batch) keys.add(key);
      cursor = next;
    } while (cursor !== '0');
  }
  const found: FoundLegacyKeys = { refs: [], badKeys: [] };
  for (const key of [...keys].sort()) {
    const scope = ctx.scopeOf(key);
    if (scope) found.refs.push({ key, scope });
    else found.badKeys.push(key);
  }
  return found;
}
