import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { connect, keysUnder } from '@active-runs/test-utils';
import { describe, expect, inject, it } from 'vitest';

const run = promisify(execFile);
const demo = fileURLToPath(new URL('../scripts/demo.mjs', import.meta.url));

// `npm run tour` (the README) runs this script: keep it working (it uses the built dist).
describe.skipIf(inject('redisTopology') === 'cluster')('tour script (npm run tour)', () => {
  it('prints pages, counts, stats and a sweep, and cleans up after itself', async () => {
    const client = connect(inject('redisUrl'));
    const before = await keysUnder(client, 'demo');
    const { stdout } = await run(process.execPath, [demo], {
      env: { ...process.env, REDIS_URL: inject('redisUrl') },
      timeout: 60_000,
    });
    expect(stdout).toContain('Page 1 (cursor paging, running first, newest first): 5 of 40');
    expect(stdout).toContain('Page 2: 5 of 40');
    expect(stdout).toContain('Queued playground runs: 3 of 9');
    expect(stdout).toMatch(/Counts: \{"total":40,"byStatus":\{"queued":29,"running":11\}/);
    expect(stdout).toContain('"lapsed":1');
    expect(stdout).toMatch(/Sweep: +expired 1 run\(s\) \(stuck-run\)/);
    const prefix = /prefix: (demo:[0-9a-f]+)/.exec(stdout)?.[1];
    expect(prefix).toBeDefined();
    expect(await keysUnder(client, prefix!)).toEqual([]);
    expect(await keysUnder(client, 'demo')).toEqual(before);
    await client.quit();
  });
});
