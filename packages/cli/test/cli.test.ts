import { createActiveRunStore, scopeKeys } from '@active-runs/core';
import { connect, deletePrefix, freePort, keysUnder, uniquePrefix } from '@active-runs/test-utils';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { cli, legacyRecord, start } from './run-cli.js';

/** The `active-runs` bin as a user runs it: a child process against a real Redis. */

const url = inject('redisUrl');
const client = connect(url);
const prefixes: string[] = [];
const scope = { workspaceId: 'ws', projectId: 'proj' };

/** A fresh prefix (cleaned up after the test) and the CLI's connection flags for it. */
function fresh(name: string) {
  const prefix = uniquePrefix(name);
  prefixes.push(prefix);
  return { prefix, flags: ['--redis-url', url, '--prefix', prefix] };
}

afterEach(async () => {
  for (const prefix of prefixes.splice(0)) await deletePrefix(client, prefix);
});
afterAll(async () => {
  await client.quit();
});

/** stderr is exactly one line starting with "error:". */
function expectOneLineError(stderr: string, ...parts: string[]) {
  expect(stderr.trimEnd().split('\n'), stderr).toHaveLength(1);
  expect(stderr).toMatch(/^error: /);
  for (const part of parts) expect(stderr).toContain(part);
}

describe('usage', () => {
  it('--help on the program and on every command exits 0', async () => {
    const top = await cli(['--help']);
    expect(top.code).toBe(0);
    for (const name of ['migrate', 'stats', 'list', 'inspect', 'sweep', 'watch']) {
      expect(top.stdout).toContain(name);
      const help = await cli([name, '--help']);
      expect(help.code, name).toBe(0);
      expect(help.stdout, name).toContain(`Usage: active-runs ${name}`);
    }
    expect((await cli(['migrate', '--help'])).stdout).toMatch(
      /--dry-run[\s\S]*--batch-size[\s\S]*--delete-source[\s\S]*--match[\s\S]*--key-prefix/,
    );
    expect((await cli(['--version'])).code).toBe(0);
  });

  it('bad arguments exit 2 with a one-line reason', async () => {
    const { flags } = fresh('usage');
    const cases: [string[], string][] = [
      [['frob'], "unknown command 'frob'"],
      [['list', 'ws'], "missing required argument 'projectId'"],
      [['list', 'ws', 'p', '--limit', '0', ...flags], '--limit must be an integer from 1 to 500'],
      [['list', 'ws', 'p', '--limit', 'ten', ...flags], '--limit'],
      [['list', 'ws', 'p', '--status', 'done', ...flags], '--status'],
      [['list', 'ws', 'p', '--cursor', 'edited', ...flags], 'cursor is invalid'],
      [['stats', 'w{1}', 'p', ...flags], 'scope.workspaceId'],
      [['inspect', 'ws', 'p', 'bad id', ...flags], 'id contains whitespace'],
      [['stats', 'ws', 'p', '--redis-url', 'http://x'], 'must start with redis://'],
      [['stats', 'ws', 'p', '--redis-url', 'not a url'], 'is not a URL'],
      [['stats', 'ws', 'p', '--cluster', 'nohost'], 'is not host:port'],
      [['migrate', '--batch-size', '5000', ...flags], '--batch-size'],
      [['migrate', '--scope', 'nocolon', ...flags], 'is not workspaceId:projectId'],
      [['migrate', '--progress', 'fancy', ...flags], '--progress'],
    ];
    for (const [args, reason] of cases) {
      const result = await cli(args);
      expect(result.code, args.join(' ')).toBe(2);
      expectOneLineError(result.stderr, reason);
    }
  });

  it('Redis down: every command exits 1 saying so, in one line', async () => {
    const down = `redis://127.0.0.1:${await freePort()}`;
    for (const args of [
      ['stats', 'ws', 'p'],
      ['list', 'ws', 'p'],
      ['inspect', 'ws', 'p', 'r'],
      ['sweep'],
      ['watch', 'ws', 'p'],
      ['migrate'],
    ]) {
      const result = await cli([...args, '--redis-url', down]);
      expect(result.code, args.join(' ')).toBe(1);
      expectOneLineError(result.stderr, 'Redis is unreachable', 'ECONNREFUSED');
    }
  });
});

describe('commands', () => {
  it('stats, list, inspect: tables for people, JSON for scripts', async () => {
    const { prefix, flags } = fresh('read');
    const store = createActiveRunStore({ redis: client, prefix });
    await store.enqueue(scope, {
      id: 'q-1',
      source: 'api',
      caption: 'waiting',
      data: { model: 'gpt' },
    });
    await store.enqueue(scope, { id: 'r-1', source: 'eval' });
    await store.start(scope, 'r-1');
    await store.enqueue(scope, { id: 'q-2' });

    const stats = await cli(['stats', 'ws', 'proj', ...flags]);
    expect(stats.code).toBe(0);
    expect(stats.stdout).toMatch(/total\s+3/);
    expect(stats.stdout).toMatch(/running\s+1/);
    expect(stats.stdout).toMatch(/source api\s+1/);
    const statsJson = JSON.parse(
      (await cli(['stats', 'ws', 'proj', '--json', '--memory', ...flags])).stdout,
    );
    expect(statsJson).toMatchObject({ total: 3, byStatus: { queued: 2, running: 1 }, lapsed: 0 });
    expect(statsJson.memoryBytes).toBeGreaterThan(0);

    const list = await cli(['list', 'ws', 'proj', '--limit', '2', ...flags]);
    expect(list.code).toBe(0);
    const lines = list.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^ID\s+STATUS\s+SOURCE\s+QUEUED\s+STARTED\s+LEASE\s+CAPTION$/);
    expect(lines[1]).toMatch(/^r-1\s+running\s+eval/);
    expect(lines[2]).toMatch(/^q-2\s+queued\s+-/);
    const cursor = /--cursor (\S+)/.exec(lines[3]!)?.[1];
    expect(lines[3]).toContain('2 of 3 runs; next page: --cursor');
    const next = JSON.parse(
      (await cli(['list', 'ws', 'proj', '--json', '--cursor', cursor!, '--limit', '2', ...flags]))
        .stdout,
    );
    expect(next).toMatchObject({
      total: 3,
      nextCursor: null,
      items: [{ id: 'q-1', caption: 'waiting', data: { model: 'gpt' } }],
    });
    const filtered = JSON.parse(
      (
        await cli([
          'list',
          'ws',
          'proj',
          '--json',
          '--status',
          'queued',
          '--source',
          'api',
          ...flags,
        ])
      ).stdout,
    );
    expect(filtered.items.map((r: { id: string }) => r.id)).toEqual(['q-1']);
    const offset = JSON.parse(
      (await cli(['list', 'ws', 'proj', '--json', '--page', '2', '--limit', '2', ...flags])).stdout,
    );
    expect(offset.items.map((r: { id: string }) => r.id)).toEqual(['q-1']);
    const empty = await cli(['list', 'ws', 'other', ...flags]);
    expect(empty.stdout).toBe('0 of 0 runs\n');

    const inspect = await cli(['inspect', 'ws', 'proj', 'q-1', ...flags]);
    expect(inspect.code).toBe(0);
    expect(inspect.stdout).toMatch(/status\s+queued/);
    expect(inspect.stdout).toContain('"model": "gpt"');
    expect(
      JSON.parse((await cli(['inspect', 'ws', 'proj', 'q-1', '--json', ...flags])).stdout),
    ).toEqual(await store.get(scope, 'q-1'));
    const missing = await cli(['inspect', 'ws', 'proj', 'nope', ...flags]);
    expect(missing.code).toBe(1);
    expectOneLineError(missing.stderr, 'run nope is not active in ws/proj');
    await store.close();
  });

  it('sweep removes lapsed runs and prints each', async () => {
    const { prefix, flags } = fresh('sweep');
    const store = createActiveRunStore({ redis: client, prefix });
    await store.enqueue(scope, { id: 'stuck', leaseMs: 100 });
    await store.enqueue(scope, { id: 'alive' });
    await new Promise((r) => setTimeout(r, 200));
    const swept = await cli(['sweep', ...flags]);
    expect(swept.code).toBe(0);
    expect(swept.stdout).toContain('expired ws/proj stuck (queued)');
    expect(swept.stdout).toMatch(/swept: 1 expired, 0 redelivered/);
    expect((await store.list(scope)).items.map((r) => r.id)).toEqual(['alive']);
    const again = JSON.parse((await cli(['sweep', '--json', ...flags])).stdout);
    expect(again).toMatchObject({
      ran: true,
      expired: 0,
      deadLetters: 0,
      lockLost: false,
      runs: [],
    });
    await store.close();
  });

  it('sweep hands out reports the app did not acknowledge: redeliveries and dead letters', async () => {
    const { prefix, flags } = fresh('resweep');
    // the app's hook fails: its reports stay in the outbox, due again after reclaimMs
    const app = createActiveRunStore({
      redis: client,
      prefix,
      sweeper: { reclaimMs: 100, maxAttempts: 20 },
      onExpired: () => Promise.reject(new Error('app down')),
    });
    await app.enqueue(scope, { id: 'flaky', leaseMs: 100 });
    await app.enqueue(scope, { id: 'hopeless', leaseMs: 100 });
    await new Promise((r) => setTimeout(r, 150));
    expect(await app.sweep()).toMatchObject({ expired: 2, failedReports: 2 });
    // 'hopeless' was delivered 10 times already: past the CLI's maxAttempts (10), a dead letter
    const keys = scopeKeys(prefix, { workspaceId: 'ws', projectId: 'proj' });
    const [report] = (await client.hkeys(keys.expired)).filter((r) => r.startsWith('hopeless:'));
    const entry = (await client.hget(keys.expired, report!))!.split('\n');
    await client.hset(keys.expired, report!, ['', '10', ...entry.slice(2)].join('\n'));
    await new Promise((r) => setTimeout(r, 150));
    const swept = await cli(['sweep', ...flags]);
    expect(swept.code).toBe(0);
    expect(swept.stdout).toContain('expired ws/proj flaky (queued) [redelivery, attempt 2]');
    expect(swept.stdout).toMatch(
      /swept: 0 expired, 1 redelivered, 0 failed reports, 1 dead letters/,
    );
    expect(swept.stderr).toMatch(/dropped the expired-run report of hopeless after 10 attempt/);
    expect(await client.exists(keys.expired)).toBe(0);
    await app.close();
  });

  it('watch prints live events until interrupted, then exits 0', async () => {
    const { prefix, flags } = fresh('watch');
    const store = createActiveRunStore({ redis: client, prefix });
    const watch = start(['watch', 'ws', 'proj', ...flags]);
    await watch.waitFor((o) => o.stdout.includes('subscribed'));
    await store.enqueue(scope, { id: 'live-1', source: 'api', caption: 'hello' });
    await store.start(scope, 'live-1');
    const beat = await store.heartbeat(scope, 'live-1');
    await store.end(scope, 'live-1');
    await watch.waitFor((o) => o.stdout.includes('ended'));
    expect(watch.output.stdout).toMatch(/queued\s+live-1 queued api "hello"/);
    expect(watch.output.stdout).toMatch(/started\s+live-1 running api/);
    expect(watch.output.stdout).toContain(
      `heartbeat live-1 lease until ${new Date(beat.leaseExpiresAt).toISOString()}`,
    );
    watch.child.kill('SIGINT');
    expect(await watch.exited).toBe(0);

    const jsonWatch = start(['watch', 'ws', 'proj', '--json', ...flags]);
    await jsonWatch.waitFor((o) => o.stdout.includes('"subscribed"'));
    await store.enqueue(scope, { id: 'live-2' });
    const beat2 = await store.heartbeat(scope, 'live-2');
    await jsonWatch.waitFor((o) => o.stdout.includes('"heartbeat"'));
    const events = jsonWatch.output.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(events[1]).toMatchObject({ type: 'queued', id: 'live-2', run: { status: 'queued' } });
    expect(events[2]).toMatchObject({
      type: 'heartbeat',
      id: 'live-2',
      leaseExpiresAt: beat2.leaseExpiresAt,
    });
    jsonWatch.child.kill('SIGTERM');
    expect(await jsonWatch.exited).toBe(0);
    await store.close();
  });
});

describe('migrate', () => {
  /** Legacy hashes behind an ioredis keyPrefix, as the original app wrote them. */
  async function seedLegacy(keyPrefix: string, n: number) {
    const now = Date.now();
    const fields: Record<string, string> = {};
    for (let i = 0; i < n; i++) {
      fields[`run-${i}`] = legacyRecord(
        `run-${i}`,
        now - 1_000 - i,
        i % 2 ? { source: 'api', startedAt: new Date(now).toISOString() } : {},
      );
    }
    fields.junk = 'not json';
    fields.stale = legacyRecord('stale', now - 4 * 3_600_000);
    await client.hset(`${keyPrefix}runs:active:ws:proj`, fields);
    await client.hset(`${keyPrefix}runs:active:ws:other`, 'o-1', legacyRecord('o-1', now));
  }

  it('dry run, then migrate with progress lines, then a report as JSON; deletes only when asked', async () => {
    const { prefix, flags } = fresh('migrate');
    const keyPrefix = `${prefix}:latitude:`;
    await seedLegacy(keyPrefix, 300);
    const legacy = ['--key-prefix', keyPrefix, '--batch-size', '50'];

    const before = await keysUnder(client, prefix);
    const dry = await cli(['migrate', '--dry-run', ...legacy, ...flags]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('dry run (nothing written): would have migrated 2 scope(s)');
    expect(dry.stdout).toContain('would copy 301 of 303 records');
    expect(dry.stdout).toContain('skipped records: bad-json 1, stale 1');
    expect(await keysUnder(client, prefix)).toEqual(before);

    const run = await cli(['migrate', '--progress', 'lines', ...legacy, ...flags]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('migrated 2 scope(s) (0 already migrated) of 2 legacy key(s)');
    expect(run.stdout).toContain('copied 301 of 303 records');
    const progress = run.stderr.trim().split('\n');
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)).toMatch(
      /^migrate: 606\/606 records \(100%\), [\d,]+ records\/s, ETA 0ms, keys 2\/2, copied 301, skipped 2, failed 0$/,
    );
    const list = JSON.parse((await cli(['list', 'ws', 'proj', '--json', ...flags])).stdout);
    expect(list.total).toBe(300);
    expect(list.items[0]).toMatchObject({ status: 'running', source: 'api' });

    const again = JSON.parse(
      (await cli(['migrate', '--json', '--delete-source', ...legacy, ...flags])).stdout,
    );
    expect(again).toMatchObject({
      scopesMigrated: 0,
      scopesAlreadyMigrated: 2,
      copied: 0,
      deletedKeys: 2,
      failed: 0,
    });
    expect(await client.exists(`${keyPrefix}runs:active:ws:proj`)).toBe(0);
    expect((await cli(['stats', 'ws', 'proj', '--json', ...flags])).stdout).toContain(
      '"total": 300',
    );
  });

  it('draws a progress bar with rate and ETA when asked (a terminal gets it by default)', async () => {
    const { prefix, flags } = fresh('bar');
    const keyPrefix = `${prefix}:old:`;
    await seedLegacy(keyPrefix, 50);
    const run = await cli(['migrate', '--progress', 'bar', '--key-prefix', keyPrefix, ...flags]);
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(
      /migrate \[[█░]+\] 100% \| 106\/106 records \| [\d,]+ records\/s \| ETA \d+s \| copied 51/,
    );
  });

  it('stops on Ctrl-C with exit code 1 and resumes on the next run', async () => {
    const { prefix, flags } = fresh('abort');
    const keyPrefix = `${prefix}:old:`;
    await seedLegacy(keyPrefix, 20_000);
    const legacy = ['--key-prefix', keyPrefix, '--batch-size', '20', '--progress', 'lines'];
    const first = start(['migrate', ...legacy, ...flags]);
    await first.waitFor((o) => /copied [1-9]/.test(o.stderr));
    first.child.kill('SIGINT');
    expect(await first.exited).toBe(1);
    expect(first.output.stdout).toContain('aborted: run the same command again to resume');
    expect(first.output.stderr).toContain('error: aborted before the end');
    const copiedFirst = Number(
      /copied ([\d,]+) of/.exec(first.output.stdout)?.[1]?.replace(/,/g, ''),
    );
    expect(copiedFirst).toBeGreaterThan(0); // stopped in the copy or in the verification pass

    const second = await cli(['migrate', '--json', ...legacy, ...flags], { timeoutMs: 120_000 });
    expect(second.code, second.stderr).toBe(0);
    const report = JSON.parse(second.stdout);
    expect(report.aborted).toBe(false);
    expect(copiedFirst + report.copied).toBe(20_001);
    expect(JSON.parse((await cli(['stats', 'ws', 'proj', '--json', ...flags])).stdout).total).toBe(
      20_000,
    );
  });
});
