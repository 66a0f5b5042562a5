import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { deletePrefix } from '@active-runs/test-utils';
import * as ioredis from 'ioredis';
import ts from 'typescript';
import { describe, expect, inject, it } from 'vitest';
import type { ActiveRunStore, ActiveRunStoreOptions } from '../src/index.js';
import { sleep, useStoreHarness, useThrowawayRedis } from './harness.js';

/**
 * Every TypeScript example of the docs runs as written, against a real Redis and the built
 * package: each ```ts block is transpiled (imports become requires of the real modules) and run
 * as the body of an async function. A block may use, without defining them, the names of
 * `Given` below: what an app around the snippet would have (a client, a store, a scope, its own
 * functions such as markRunFailed). Blocks that create a Cluster client run in the cluster
 * project, the others on a throwaway standalone redis-server. Anything a block opens (clients,
 * stores) is closed after it, and its keys deleted.
 */
const DOCS: Record<string, string> = {
  'README.md': '../../../README.md',
  'packages/core/README.md': '../README.md',
  'docs/cluster.md': '../../../docs/cluster.md',
};

interface Block {
  doc: string;
  line: number;
  code: string;
}

function blocks(): Block[] {
  const out: Block[] = [];
  for (const [doc, path] of Object.entries(DOCS)) {
    const text = readFileSync(new URL(path, import.meta.url), 'utf8');
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      if (lines[i]!.trim() !== '```ts') continue;
      const start = i + 1;
      const end = lines.findIndex((line, j) => j > i && line.trim() === '```');
      out.push({
        doc,
        line: start,
        code: lines.slice(start, end).join('\n'),
      });
      i = end;
    }
  }
  return out;
}

const h = useStoreHarness();
const require = createRequire(import.meta.url);
const core = require('../dist/index.cjs') as typeof import('../src/index.js');

/** What the examples may use without defining it, and what they did with it. */
function given(redisUrl: string) {
  const calls: string[] = [];
  const clients: (ioredis.Redis | ioredis.Cluster)[] = [];
  const stores: ActiveRunStore<unknown>[] = [];
  const record =
    (name: string) =>
    async (...args: unknown[]) => {
      calls.push(`${name}(${args.length})`);
    };
  class Redis extends ioredis.Redis {
    constructor(...args: unknown[]) {
      super(...(args as ConstructorParameters<typeof ioredis.Redis>));
      clients.push(this);
    }
  }
  class Cluster extends ioredis.Cluster {
    constructor(...args: unknown[]) {
      super(...(args as [ioredis.ClusterNode[]]));
      clients.push(this);
    }
  }
  const createActiveRunStore = (options: ActiveRunStoreOptions<unknown>) => {
    const store = core.createActiveRunStore(options);
    stores.push(store);
    return store;
  };
  const modules: Record<string, unknown> = {
    ioredis: { ...ioredis, Redis, Cluster, default: Redis },
    '@active-runs/core': { ...core, createActiveRunStore },
    zod: require('zod'),
    'node:crypto': require('node:crypto'),
  };
  const redis = new Redis(redisUrl, { commandTimeout: 5_000 });
  const store = createActiveRunStore({ redis, prefix: `docs-given:${randomUUID()}` });
  const controller = new AbortController();
  const names = {
    // what an app around a snippet would have
    redis,
    store,
    scope: { workspaceId: 12, projectId: 'p-7' },
    runId: randomUUID(),
    cursor: null,
    signal: controller.signal,
    // the app's own functions
    markRunFailed: record('markRunFailed'),
    db: { runs: { update: record('db.runs.update') } },
    pino: () => ({ warn() {}, info() {}, debug() {}, error() {} }),
    refetchPage: record('refetchPage'),
    refetch: record('refetch'),
    applyChange: record('applyChange'),
    applyLease: record('applyLease'),
    apply: record('apply'),
  };
  return { names, modules, calls, clients, stores, controller };
}

interface RunOptions {
  /** Environment variables the example reads. */
  env: Record<string, string>;
  /** The standalone Redis of the names given to the example. */
  redisUrl: string;
  /** Deletes the keys of a prefix the example wrote under. */
  cleanUp: (prefix: string) => Promise<unknown>;
  /** Checks what the example left, before anything is closed. */
  check: (opened: Given) => Promise<void>;
}
type Given = ReturnType<typeof given> & { opened: (ioredis.Redis | ioredis.Cluster)[] };

async function run(block: Block, { env, redisUrl, cleanUp, check }: RunOptions): Promise<void> {
  const g = given(redisUrl);
  const openedBefore = g.clients.length;
  const { outputText } = ts.transpileModule(block.code, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 },
  });
  const fakeRequire = (name: string) => {
    if (!(name in g.modules)) {
      throw new Error(`the example imports ${name}, which the test does not know`);
    }
    return g.modules[name];
  };
  const AsyncFunction = (async () => {}).constructor as new (
    ...args: string[]
  ) => (...values: unknown[]) => Promise<void>;
  const params = ['require', 'exports', 'process', ...Object.keys(g.names)];
  const body = new AsyncFunction(...params, `{\n${outputText}\n}`);
  const fakeProcess = { ...process, env: { ...process.env, ...env } };
  // an example that loops over events() ends when the given signal aborts
  const stop = setTimeout(() => g.controller.abort(), 300);
  try {
    await body(fakeRequire, {}, fakeProcess, ...Object.values(g.names));
    await sleep(50); // events the example subscribed to
    await check({ ...g, opened: g.clients.slice(openedBefore) });
  } finally {
    clearTimeout(stop);
    g.controller.abort();
    for (const store of g.stores) {
      await store.close();
      await cleanUp(store.prefix);
    }
    for (const client of g.clients) if (client.status !== 'end') client.disconnect();
  }
}

const all = blocks();
const isCluster = (block: Block) => block.code.includes('new Cluster(');

/** The names of `given`, as the type checker sees them. */
const GIVEN_TYPES = `
declare const redis: import('ioredis').Redis;
declare const store: import('@active-runs/core').ActiveRunStore;
declare const scope: import('@active-runs/core').Scope;
declare const runId: string;
declare const cursor: string | null;
declare const signal: AbortSignal;
declare function markRunFailed(workspaceId: string, runId: string, reason: string): Promise<void>;
declare const db: { runs: { update(query: object): Promise<unknown> } };
declare function pino(): import('@active-runs/core').ActiveRunsLogger;
declare function refetchPage(): Promise<void>;
declare function refetch(): Promise<void>;
declare function applyChange(type: string, run: import('@active-runs/core').ActiveRun): void;
declare function apply(type: string, run: import('@active-runs/core').ActiveRun): void;
declare function applyLease(id: string, leaseExpiresAt: number): void;
`;

/** Type errors of every example (strict, as an app would compile it), by `doc:line`. */
function typeErrors(): Record<string, string[]> {
  const dir = fileURLToPath(new URL('./.docs-examples/', import.meta.url));
  const files = new Map<string, string>([[`${dir}given.d.ts`, GIVEN_TYPES]]);
  const names = new Map<string, string>();
  all.forEach((block, i) => {
    const file = `${dir}example-${i}.ts`;
    // `export {}` makes every example a module, so its names shadow the given ones
    files.set(file, `${block.code}\nexport {};\n`);
    names.set(file, `${block.doc}:${block.line}`);
  });
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    types: ['node'],
    skipLibCheck: true,
    paths: { '@active-runs/core': [fileURLToPath(new URL('../src/index.ts', import.meta.url))] },
  };
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  const getSourceFile = host.getSourceFile.bind(host);
  host.readFile = (file) => files.get(file) ?? readFile(file);
  host.fileExists = (file) => files.has(file) || ts.sys.fileExists(file);
  host.getSourceFile = (file, language) => {
    const text = files.get(file);
    return text === undefined
      ? getSourceFile(file, language)
      : ts.createSourceFile(file, text, language, true);
  };
  const program = ts.createProgram([...files.keys()], options, host);
  const out: Record<string, string[]> = {};
  for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
    const name = (diagnostic.file && names.get(diagnostic.file.fileName)) ?? 'elsewhere';
    const line = diagnostic.file?.getLineAndCharacterOfPosition(diagnostic.start ?? 0).line ?? 0;
    const text = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
    out[name] = [...(out[name] ?? []), `+${line}: ${text}`];
  }
  return out;
}

describe('the docs examples', () => {
  it('finds the examples of every doc', () => {
    for (const doc of Object.keys(DOCS)) {
      expect(all.filter((b) => b.doc === doc).length, doc).toBeGreaterThan(0);
    }
    expect(all.filter(isCluster).length).toBeGreaterThan(0);
  });

  it.skipIf(h.topology === 'cluster')(
    'type-check as written (strict)',
    () => {
      expect(typeErrors()).toEqual({});
    },
    60_000,
  );
});

describe.skipIf(h.topology === 'cluster')('the docs examples on a standalone Redis', () => {
  const server = useThrowawayRedis();

  it.each(all.filter((b) => !isCluster(b)).map((b) => [`${b.doc}:${b.line}`, b] as const))(
    '%s runs as written',
    async (_name, block) => {
      await run(block, {
        env: { REDIS_URL: server.url },
        redisUrl: server.url,
        cleanUp: (prefix) => deletePrefix(server.admin, prefix),
        // an example that quits what it opened leaves nothing open: the process can exit
        check: async ({ opened }) => {
          if (!block.code.includes('.quit()')) return;
          expect(opened.length).toBeGreaterThan(0);
          for (const client of opened) expect(client.status).toMatch(/^(end|close)$/);
        },
      });
    },
  );
});

describe.skipIf(h.topology !== 'cluster')('the docs examples on a Redis Cluster', () => {
  it.each(all.filter(isCluster).map((b) => [`${b.doc}:${b.line}`, b] as const))(
    '%s runs as written',
    async (_name, block) => {
      const nodes = inject('redisClusterNodes').map((n) => `${n.host}:${n.port}`);
      await run(block, {
        env: { REDIS_CLUSTER_NODES: nodes.join(',') },
        redisUrl: h.url,
        cleanUp: async () => {},
        // the store the example made works on the cluster (a read: nothing to clean up)
        check: async ({ stores }) => {
          const made = stores.slice(1);
          expect(made.length).toBeGreaterThan(0);
          for (const store of made) {
            const empty = { workspaceId: 'docs', projectId: randomUUID() };
            expect((await store.counts(empty)).total).toBe(0);
          }
        },
      });
    },
  );
});
