import { connectCluster, deletePrefix, uniquePrefix } from '@active-runs/test-utils';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { cli, legacyRecord } from './run-cli.js';

/** `migrate` and `stats` against a local 3-master Redis Cluster, through --cluster seed nodes. */

const nodes = inject('redisClusterNodes');
const client = connectCluster(nodes);
const seeds = nodes.map((n) => `${n.host}:${n.port}`).join(',');
const prefix = uniquePrefix('cli-cluster');

afterAll(async () => {
  await deletePrefix(client, prefix);
  await client.quit();
});

describe('on Redis Cluster', () => {
  it('migrate finds legacy keys on every master, then stats reads the migrated scopes', async () => {
    const keyPrefix = `${prefix}:old:`;
    const now = Date.now();
    const projects = Array.from({ length: 12 }, (_, i) => `p${i}`);
    for (const project of projects) {
      const fields: Record<string, string> = {};
      for (let i = 0; i < 40; i++)
        fields[`${project}-r${i}`] = legacyRecord(`${project}-r${i}`, now - i, { source: 'api' });
      await client.hset(`${keyPrefix}runs:active:ws:${project}`, fields);
    }
    // the legacy keys (no hash tag) sit on more than one master
    let holding = 0;
    for (const node of client.nodes('master')) {
      const [, keys] = await node.scan('0', 'MATCH', `${keyPrefix}*`, 'COUNT', 1_000);
      if (keys.length > 0) holding++;
    }
    expect(holding).toBeGreaterThan(1);

    const flags = ['--cluster', seeds, '--prefix', prefix, '--key-prefix', keyPrefix];
    const dry = await cli(['migrate', '--dry-run', '--json', ...flags]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ keys: 12, copied: 480, scopesMigrated: 12 });

    const run = await cli(['migrate', '--progress', 'none', ...flags]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('migrated 12 scope(s) (0 already migrated) of 12 legacy key(s)');
    expect(run.stdout).toContain('copied 480 of 480 records');
    for (const project of ['p0', 'p7', 'p11']) {
      const stats = await cli([
        'stats',
        'ws',
        project,
        '--json',
        '--cluster',
        seeds,
        '--prefix',
        prefix,
      ]);
      expect(stats.code, stats.stderr).toBe(0);
      expect(JSON.parse(stats.stdout)).toMatchObject({
        total: 40,
        byStatus: { queued: 40 },
        bySource: { api: 40 },
      });
    }
    const human = await cli(['stats', 'ws', 'p3', '--cluster', seeds, '--prefix', prefix]);
    expect(human.stdout).toMatch(/total\s+40/);
  });

  it('an unreachable cluster exits 1 in one line', async () => {
    const result = await cli([
      'stats',
      'ws',
      'p',
      '--cluster',
      '127.0.0.1:1',
      '--timeout-ms',
      '1000',
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain('Redis is unreachable at cluster 127.0.0.1:1');
  });
});
