import { spawnSync } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { uniquePrefix } from '@active-runs/test-utils';
import { metrics } from '@opentelemetry/api';
import { afterAll, describe, expect, it } from 'vitest';
import type * as Core from '../src/index.js';
import { useStoreHarness } from './harness.js';
import { byAttributes, inMemorySdk } from './telemetry-sdk.js';

const h = useStoreHarness();
const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const scope = { workspaceId: 'w1', projectId: 'p1' };

/** What each script does with the built package: a store's whole round, then its verdict. */
const body = (prefix: string, url: string) => `
let apiFound = true;
try { require.resolve('@opentelemetry/api', { paths: [require.resolve('@active-runs/core')] }); } catch { apiFound = false; }
const store = core.createActiveRunStore({ redis: ${JSON.stringify(url)}, prefix: ${JSON.stringify(prefix)} });
const scope = { workspaceId: 'w', projectId: 'p' };
await store.enqueue(scope, { id: 'a' });
const page = await store.list(scope);
await store.end(scope, 'a');
await store.close();
console.log(JSON.stringify({ apiFound, total: page.total, instrumented: Object.hasOwn(store, 'list') }));
`;

describe.skipIf(h.topology === 'cluster')('without @opentelemetry/api installed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'active-runs-no-otel-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('both builds load and work, reporting nothing', () => {
    // an app's node_modules with the package's build and its dependencies, and nothing else
    const modules = join(dir, 'node_modules');
    const core = join(modules, '@active-runs', 'core');
    mkdirSync(core, { recursive: true });
    cpSync(join(packageDir, 'package.json'), join(core, 'package.json'));
    cpSync(join(packageDir, 'dist'), join(core, 'dist'), { recursive: true });
    for (const dependency of ['ioredis', 'zod', 'cluster-key-slot']) {
      symlinkSync(
        realpathSync(join(packageDir, 'node_modules', dependency)),
        join(modules, dependency),
      );
    }
    const esmPrefix = h.track(uniquePrefix('no-otel-esm'));
    const cjsPrefix = h.track(uniquePrefix('no-otel-cjs'));
    writeFileSync(
      join(dir, 'app.mjs'),
      `import { createRequire } from 'node:module';\nimport * as core from '@active-runs/core';\nconst require = createRequire(import.meta.url);\n${body(esmPrefix, h.url)}`,
    );
    writeFileSync(
      join(dir, 'app.cjs'),
      `const core = require('@active-runs/core');\n(async () => {\n${body(cjsPrefix, h.url)}\n})().catch((e) => { console.error(e); process.exit(1); });`,
    );
    for (const script of ['app.mjs', 'app.cjs']) {
      const run = spawnSync(process.execPath, [script], {
        cwd: dir,
        encoding: 'utf8',
        env: { ...process.env, NODE_PATH: '' },
        timeout: 30_000,
      });
      expect(run.stderr, script).toBe('');
      expect(JSON.parse(run.stdout), script).toEqual({
        apiFound: false,
        total: 1,
        instrumented: false,
      });
    }
  });
});

describe('both builds in one app', () => {
  it('the CJS build reports to the SDK the app registered through the ESM API', async () => {
    const sdk = inMemorySdk();
    metrics.setGlobalMeterProvider(sdk.meterProvider);
    try {
      const cjs = createRequire(import.meta.url)('../dist/index.cjs') as typeof Core;
      const esm = (await import('../dist/index.js')) as unknown as typeof Core;
      for (const build of [cjs, esm]) {
        const prefix = h.track(uniquePrefix('otel-builds'));
        const store = build.createActiveRunStore({ redis: h.client, prefix });
        await store.counts(scope);
        await store.close();
      }
      const counted = byAttributes(await sdk.points(), 'active_runs.operations', (a) =>
        String(a.operation),
      );
      expect(counted).toEqual({ counts: 2 });
    } finally {
      metrics.disable();
      await sdk.shutdown();
    }
  });
});
