import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerName } from '../src/app-routes.js';
import type { RunningServer } from '../src/server-config.js';
import { Demo, get, signIn } from './harness.js';

/** One sample of a scrape: the metric's name, its labels, its value. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus's text format (what the exporter writes: no escaped quotes in our label values). */
function parsePrometheus(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1]!, type[2]!);
    if (line === '' || line.startsWith('#')) continue;
    const sample = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line);
    if (!sample) throw new Error(`not a Prometheus sample: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (sample[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)) {
      labels[key!] = value!;
    }
    samples.push({ name: sample[1]!, labels, value: Number(sample[3]) });
  }
  return { types, samples };
}

const demo = new Demo();
const servers = {} as Record<ServerName, RunningServer>;
const acme = { workspaceId: 'acme', projectId: 'assistant' };

beforeAll(async () => {
  servers.fastify = await demo.start('fastify');
  servers.nestjs = await demo.start('nestjs');
  await demo.store.enqueue(acme, { id: 'acme-1', source: 'api', data: { model: 'm', tokens: 1 } });
});
afterAll(() => demo.close());

describe.each(['fastify', 'nestjs'] as const)('/metrics on the %s server', (name) => {
  const base = () => servers[name].url;
  const scrape = async () => {
    const answer = await fetch(`${base()}/metrics`);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return parsePrometheus(await answer.text());
  };
  const value = (samples: Sample[], name: string, labels: Record<string, string>) =>
    samples
      .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
      .reduce((sum, s) => sum + s.value, 0);

  it('counts the store calls its API made, by outcome, and their durations in seconds', async () => {
    const before = (await scrape()).samples;
    const cookie = await signIn(base(), 'acme');
    expect((await get(base(), '/api/runs/active', cookie)).status).toBe(200);
    expect((await get(base(), '/api/runs/active?cursor=edited', cookie)).status).toBe(400);
    const { types, samples } = await scrape();
    expect(types.get('active_runs_operations_total')).toBe('counter');
    expect(types.get('active_runs_operation_duration')).toBe('histogram');
    const ok = { operation: 'list', outcome: 'ok' };
    const refused = { operation: 'list', outcome: 'INVALID_ARGUMENT' };
    const total = 'active_runs_operations_total';
    expect(value(samples, total, ok) - value(before, total, ok)).toBeGreaterThanOrEqual(1);
    expect(value(samples, total, refused) - value(before, total, refused)).toBeGreaterThanOrEqual(
      1,
    );
    const count = 'active_runs_operation_duration_count';
    expect(value(samples, count, { operation: 'list' })).toBeGreaterThan(
      value(before, count, { operation: 'list' }),
    );
    const sum = value(samples, 'active_runs_operation_duration_sum', { operation: 'list' });
    expect(sum).toBeGreaterThan(0);
    expect(sum).toBeLessThan(60); // seconds, not milliseconds
    // no workspace or project labels: cardinality stays that of the operations
    expect(samples.some((s) => 'workspace_id' in s.labels || 'project_id' in s.labels)).toBe(false);
  });
});
