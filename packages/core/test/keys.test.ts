import { keysUnder } from '@active-runs/test-utils';
import calculateSlot from 'cluster-key-slot';
import fc from 'fast-check';
import { Cluster } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { ActiveRun, ParsedScope, Scope, ScopeKeys } from '../src/index.js';
import { ActiveRunsError, scopeKeys } from '../src/index.js';
import { parseScope, registryKey, scopeFromTag, slotTag } from '../src/keys.js';
import { useStoreHarness } from './harness.js';

const h = useStoreHarness();

/** Every printable ASCII character a scope part or id may contain (all but space, `{`, `}`, `:`). */
const ALLOWED = Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i))
  .filter((c) => !'{}:'.includes(c))
  .join('');
/** The characters most likely to confuse a key layout, a glob or a shell. */
const TRICKY = '"\'\\`*?[]|~!#$%&()+,-./;<=>@^_';

const tokenString = fc.string({
  unit: fc.oneof(fc.constantFrom(...ALLOWED), fc.constantFrom(...TRICKY)),
  minLength: 1,
  maxLength: 128,
});
const token = fc.oneof(tokenString, fc.maxSafeNat(), fc.nat(1_000));
const scopeArb = fc.record({ workspaceId: token, projectId: token });
const prefixArb = fc
  .tuple(
    fc.constantFrom(...'abcXYZ019'),
    fc.string({ unit: fc.constantFrom(...'abz09._:-'), maxLength: 63 }),
  )
  .map(([first, rest]) => first + rest);

/** Every Redis key (and the channel) of a scope, by role. */
function keyList(keys: ScopeKeys): [string, string][] {
  return [
    ['runs', keys.runs],
    ['index', keys.index],
    ['bySource', keys.bySource],
    ['lease', keys.lease],
    ['meta', keys.meta],
    ['registry', keys.registry],
    ['events', keys.events],
    ['expired', keys.expired],
    ['expiredDue', keys.expiredDue],
  ];
}
/** The keys that belong to one scope alone (the registry is shared by the scopes of a slot). */
function ownKeys(keys: ScopeKeys): string[] {
  return keyList(keys)
    .filter(([role]) => role !== 'registry')
    .map(([, key]) => key);
}
const slotOfScope = (scope: ParsedScope) =>
  calculateSlot(`${scope.workspaceId}:${scope.projectId}`);

describe('every key of a scope is in one cluster slot', () => {
  it('for many random scopes and prefixes, including tricky characters', () => {
    fc.assert(
      fc.property(prefixArb, scopeArb, (prefix, scope) => {
        const parsed = parseScope(scope);
        const keys = scopeKeys(prefix, parsed);
        const expected = slotOfScope(parsed);
        for (const [role, key] of keyList(keys)) {
          expect(calculateSlot(key), `${role}: ${key}`).toBe(expected);
        }
        // the hash tag is exactly the scope, and the tag parses back to it
        expect(keys.tag).toBe(`${parsed.workspaceId}:${parsed.projectId}`);
        expect(scopeFromTag(keys.tag)).toEqual(parsed);
      }),
      { numRuns: 2_000 },
    );
  });

  it('the documented key names', () => {
    const keys = scopeKeys('app', parseScope({ workspaceId: 7, projectId: 'p-1' }));
    const slot = calculateSlot('7:p-1');
    expect(keys).toEqual({
      tag: '7:p-1',
      runs: 'app:{7:p-1}:runs',
      index: 'app:{7:p-1}:idx',
      bySource: 'app:{7:p-1}:src',
      lease: 'app:{7:p-1}:lease',
      meta: 'app:{7:p-1}:meta',
      registry: `app:{${slotTag(slot)}}:scopes`,
      events: 'app:{7:p-1}:events',
      expired: 'app:{7:p-1}:expired',
      expiredDue: 'app:{7:p-1}:expired-due',
    });
  });

  it('Redis Cluster itself puts every key of a scope in the slot we compute', async () => {
    if (!(h.client instanceof Cluster)) {
      // CLUSTER KEYSLOT needs a cluster-enabled server: checked in the cluster project
      expect(h.topology).toBe('standalone');
      return;
    }
    const samples = fc.sample(fc.tuple(prefixArb, scopeArb), { numRuns: 40, seed: 42 });
    samples.push(['app', { workspaceId: TRICKY.replace(/[[\]]/g, ''), projectId: ALLOWED }]);
    for (const [prefix, scope] of samples) {
      const parsed = parseScope(scope);
      for (const [role, key] of keyList(scopeKeys(prefix, parsed))) {
        const slot = Number(await h.client.cluster('KEYSLOT', key));
        expect(slot, `${role}: ${key}`).toBe(slotOfScope(parsed));
      }
    }
  });
});

describe('no two scopes share a key', () => {
  it('different scopes (and prefixes) never share a key of their own, only the slot registry', () => {
    fc.assert(
      fc.property(prefixArb, scopeArb, prefixArb, scopeArb, (p1, s1, p2, s2) => {
        const a = parseScope(s1);
        const b = parseScope(s2);
        const same = p1 === p2 && a.workspaceId === b.workspaceId && a.projectId === b.projectId;
        const ka = scopeKeys(p1, a);
        const kb = scopeKeys(p2, b);
        const shared = ownKeys(ka).filter((k) => ownKeys(kb).includes(k));
        if (same) expect(shared).toEqual(ownKeys(ka));
        else expect(shared).toEqual([]);
        // a scope's own keys never collide with any registry key either
        expect(ownKeys(ka)).not.toContain(kb.registry);
        if (p1 === p2 && !same) {
          // same prefix and slot: same registry, but a different member (the tag)
          if (slotOfScope(a) === slotOfScope(b)) expect(ka.registry).toBe(kb.registry);
          expect(ka.tag).not.toBe(kb.tag);
        }
      }),
      { numRuns: 2_000 },
    );
  });

  it('parts that would make two scopes collide are refused, not encoded ambiguously', async () => {
    for (const scope of [
      { workspaceId: 'a', projectId: 'b:c' },
      { workspaceId: 'a:b', projectId: 'c' },
      { workspaceId: 'a}', projectId: '{b' },
      { workspaceId: '{a', projectId: 'b}' },
    ]) {
      expect(() => parseScope(scope)).toThrow(ActiveRunsError);
      const store = h.store();
      await expect(store.enqueue(scope, { id: 'x' })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
      expect(await keysUnder(h.client, store.prefix)).toEqual([]);
    }
    // with the characters that are allowed, look-alike scopes stay apart
    const a = scopeKeys('app', parseScope({ workspaceId: 'a', projectId: 'b;c' }));
    const b = scopeKeys('app', parseScope({ workspaceId: 'a;b', projectId: 'c' }));
    expect(a.runs).not.toBe(b.runs);
    expect(a.tag).not.toBe(b.tag);
  });

  it('integer and string forms are the same scope; other spellings are not', () => {
    const same: [Scope, Scope][] = [
      [
        { workspaceId: 1, projectId: 2 },
        { workspaceId: '1', projectId: '2' },
      ],
      [
        { workspaceId: 0, projectId: 'p' },
        { workspaceId: '0', projectId: 'p' },
      ],
      [
        { workspaceId: Number.MAX_SAFE_INTEGER, projectId: 3 },
        { workspaceId: String(Number.MAX_SAFE_INTEGER), projectId: '3' },
      ],
      [
        { workspaceId: -0, projectId: 1 },
        { workspaceId: '0', projectId: '1' },
      ],
    ];
    for (const [a, b] of same)
      expect(scopeKeys('app', parseScope(a))).toEqual(scopeKeys('app', parseScope(b)));
    const different: [Scope, Scope][] = [
      [
        { workspaceId: 1, projectId: 2 },
        { workspaceId: '01', projectId: '2' },
      ],
      [
        { workspaceId: 1, projectId: 2 },
        { workspaceId: '1.0', projectId: '2' },
      ],
      [
        { workspaceId: 1, projectId: 2 },
        { workspaceId: 2, projectId: 1 },
      ],
    ];
    for (const [a, b] of different) {
      expect(scopeKeys('app', parseScope(a)).runs).not.toBe(scopeKeys('app', parseScope(b)).runs);
    }
  });

  it('a store treats 1 and "1" as one scope', async () => {
    const store = h.store();
    await store.enqueue({ workspaceId: 1, projectId: 1 }, { id: 'r' });
    expect(await store.get({ workspaceId: '1', projectId: '1' }, 'r')).toMatchObject({ id: 'r' });
    expect((await store.counts({ workspaceId: '1', projectId: 1 })).total).toBe(1);
    await store.end({ workspaceId: '1', projectId: '1' }, 'r');
    expect(await store.get({ workspaceId: 1, projectId: 1 }, 'r')).toBeNull();
  });
});

describe('slotTag', () => {
  it('hashes to its slot for all 16384 slots, and registry keys land there', () => {
    const tags = new Set<string>();
    for (let slot = 0; slot < 16_384; slot++) {
      const tag = slotTag(slot);
      expect(calculateSlot(tag), `slot ${slot}: ${tag}`).toBe(slot);
      expect(tag).toMatch(/^r[0-9a-z]+$/);
      expect(calculateSlot(registryKey('any:prefix', slot))).toBe(slot);
      expect(registryKey('app', slot)).toBe(`app:{${tag}}:scopes`);
      tags.add(tag);
    }
    expect(tags.size).toBe(16_384);
  });

  it('a scope registry key is the one of its slot, and never a scope key', () => {
    fc.assert(
      fc.property(prefixArb, scopeArb, (prefix, scope) => {
        const parsed = parseScope(scope);
        const keys = scopeKeys(prefix, parsed);
        expect(keys.registry).toBe(registryKey(prefix, slotOfScope(parsed)));
        // a registry tag has no ':' and a scope tag always has one: they can never coincide
        expect(slotTag(slotOfScope(parsed))).not.toContain(':');
      }),
      { numRuns: 500 },
    );
  });
});

describe('keys a real store writes', () => {
  const tricky: Scope = { workspaceId: `w${TRICKY}`, projectId: 'p"\'\\*?[x]' };
  const scopes: Scope[] = [{ workspaceId: 42, projectId: 7 }, tricky];

  it.each(scopes)('are exactly the documented set, all in one slot (%o)', async (scope) => {
    const store = h.store();
    const parsed = parseScope(scope);
    const keys = scopeKeys(store.prefix, parsed);
    await store.enqueue(scope, { id: 'with-source', source: 'api', caption: 'c', data: { n: 1 } });
    await store.enqueue(scope, { id: 'no-source' });
    await store.start(scope, 'with-source');
    await store.progress(scope, 'with-source', { caption: 'half' });
    await store.heartbeat(scope, 'no-source');
    await store.list(scope);
    await store.list(scope, { source: 'api', status: 'running' });
    await store.counts(scope);
    await store.stats(scope, { memory: true });

    const written = await keysUnder(h.client, store.prefix);
    expect(written).toEqual(
      [keys.runs, keys.index, keys.bySource, keys.lease, keys.meta, keys.registry].sort(),
    );
    const slot = slotOfScope(parsed);
    for (const key of written) expect(calculateSlot(key), key).toBe(slot);
    if (h.client instanceof Cluster) {
      for (const key of written)
        expect(Number(await h.client.cluster('KEYSLOT', key)), key).toBe(slot);
    }
    // the scope's own keys all expire (the shared per-slot registry is swept instead)
    for (const key of [keys.runs, keys.index, keys.bySource, keys.lease, keys.meta]) {
      expect(await h.client.pexpiretime(key), key).toBeGreaterThan(0);
    }
    expect(await h.client.zscore(keys.registry, keys.tag)).not.toBeNull();

    // once every run ended, what is left is a subset of the same set, still expiring
    await store.end(scope, 'with-source');
    await store.end(scope, 'no-source');
    const left = await keysUnder(h.client, store.prefix);
    for (const key of left) expect([keys.meta, keys.registry], key).toContain(key);
    if (left.includes(keys.meta)) expect(await h.client.pexpiretime(keys.meta)).toBeGreaterThan(0);
  });

  it('a run without a source writes no by-source index', async () => {
    const store = h.store();
    const scope = { workspaceId: 'w', projectId: 'p' };
    const keys = scopeKeys(store.prefix, parseScope(scope));
    await store.enqueue(scope, { id: 'a' });
    await store.start(scope, 'a');
    expect(await keysUnder(h.client, store.prefix)).toEqual(
      [keys.runs, keys.index, keys.lease, keys.meta, keys.registry].sort(),
    );
  });

  it('the expired-reports outbox is the documented key too, in the same slot', async () => {
    const seen: string[][] = [];
    const store = h.store({
      leaseMs: 100,
      onExpired: async () => {
        seen.push(await keysUnder(h.client, store.prefix));
      },
    });
    const scope = tricky;
    const parsed = parseScope(scope);
    const keys = scopeKeys(store.prefix, parsed);
    await store.enqueue(scope, { id: 'lapses', source: 'api' });
    // wait until the lease lapsed by the Redis clock, then sweep
    let run: ActiveRun | null = await store.get(scope, 'lapses');
    while (run) {
      await new Promise((r) => setTimeout(r, 50));
      run = await store.get(scope, 'lapses');
    }
    const result = await store.sweep();
    expect(result.expired).toBe(1);
    expect(seen).toHaveLength(1);
    // while the hook runs the report is claimed in the outbox; the sweeper's lock is the only
    // key outside the scope (it is global to the prefix)
    const lock = `${store.prefix}:sweeper:lock`;
    const scopeKeysSeen = seen[0]!.filter((k) => k !== lock);
    expect(scopeKeysSeen).toContain(keys.expired);
    expect(scopeKeysSeen).toContain(keys.expiredDue);
    const documented = [...ownKeys(keys), keys.registry];
    for (const key of scopeKeysSeen) {
      expect(documented, key).toContain(key);
      expect(calculateSlot(key), key).toBe(slotOfScope(parsed));
    }
    // acknowledged: the outbox is gone
    expect(await keysUnder(h.client, store.prefix)).not.toContain(keys.expired);
    expect(await keysUnder(h.client, store.prefix)).not.toContain(keys.expiredDue);
  });
});
