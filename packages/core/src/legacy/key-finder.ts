import type { ParsedScope, Scope } from '../keys.js';
import { parseScope } from '../keys.js';
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

type ScanNode = {
  scan(
    cursor: string,
    match: 'MATCH',
    pattern: string,
    count: 'COUNT',
    n: number,
  ): Promise<[string, string[]]>;
};

/**
 * Finds the legacy keys to migrate: the given scopes' keys (`keyOf`), or every key matching
 * `match`, found with SCAN on every master of a Cluster (a SCAN only sees the node it runs on)
 * or on the one server. Each key is mapped back to its scope with `scopeOf`.
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
  const client = ctx.redis as unknown as ScanNode & { nodes?(role: 'master'): ScanNode[] };
  const nodes = ctx.redis.isCluster && client.nodes ? client.nodes('master') : [client];
  const keys = new Set<string>();
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, batch] = await node.scan(
        cursor,
        'MATCH',
        options.match,
        'COUNT',
        options.count ?? 1_000,
      );
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
