import { connect, startRedisServer, uniquePrefix } from '@active-runs/test-utils';
import { context, metrics, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActiveRunStore, INSTRUMENT_NAMES } from '../src/index.js';
import { codeOf } from './expect-failure.js';
import { sleep, until, useStoreHarness } from './harness.js';
import { byAttributes, inMemorySdk } from './telemetry-sdk.js';

const h = useStoreHarness();
const scope = { workspaceId: 'w1', projectId: 'p1' };
const outcomes = (attributes: Record<string, unknown>) =>
  `${attributes.operation} ${attributes.outcome}`;

beforeAll(() => {
  // what an app's SDK set-up does, so spans nest under the caller's across awaits
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
});
afterAll(() => {
  context.disable();
});

/** Each store call of `calls`, run in turn; returns the outcome each one had. */
async function runAll(calls: [string, () => Promise<unknown>][]): Promise<string[]> {
  const seen: string[] = [];
  for (const [operation, call] of calls) {
    seen.push(`${operation} ${await codeOf(call()).catch(() => 'ok')}`);
  }
  return seen;
}

describe('telemetry', () => {
  it('without an SDK the store is left as it is (nothing instrumented, no cost per call)', async () => {
    const plain = h.store();
    const off = h.store({ telemetry: false });
    for (const store of [plain, off]) {
      expect(Object.hasOwn(store, 'list')).toBe(false);
      expect(Object.hasOwn(store, 'enqueue')).toBe(false);
    }
    await plain.enqueue(scope, { id: 'a' });
    expect((await plain.list(scope)).total).toBe(1);
  });

  it('every operation counts its outcome, ok or the error code, and records its duration', async () => {
    const sdk = inMemorySdk();
    const store = h.store({
      telemetry: { meterProvider: sdk.meterProvider },
      maxCaptionLength: 10,
    });
    expect(Object.hasOwn(store, 'list')).toBe(true);
    const calls: [string, () => Promise<unknown>][] = [
      ['enqueue', () => store.enqueue(scope, { id: 'a', source: 'api' })],
      ['enqueue', () => store.enqueue(scope, { id: 'a', source: 'other' })],
      ['enqueue', () => store.enqueue(scope, { id: 'b{' })],
      ['enqueue', () => store.enqueue(scope, { id: 'c', caption: 'far too long a caption' })],
      ['start', () => store.start(scope, 'a')],
      ['start', () => store.start(scope, 'a', { startedAt: 1 })],
      ['start', () => store.start(scope, 'nope')],
      ['start', () => store.start(scope, 'a', { leaseMs: 1 })],
      ['progress', () => store.progress(scope, 'a', { caption: 'half' })],
      ['progress', () => store.progress(scope, 'a', { caption: 'far too long a caption' })],
      ['progress', () => store.progress(scope, 'nope', {})],
      ['progress', () => store.progress(scope, 'a', { leaseMs: -1 })],
      ['heartbeat', () => store.heartbeat(scope, 'a')],
      ['heartbeat', () => store.heartbeat(scope, 'nope')],
      ['heartbeat', () => store.heartbeat(scope, 'a', { leaseMs: 1 })],
      ['get', () => store.get(scope, 'a')],
      ['get', () => store.get({ workspaceId: 'w{', projectId: 'p' }, 'a')],
      ['list', () => store.list(scope)],
      ['list', () => store.list(scope, { cursor: 'edited' })],
      ['counts', () => store.counts(scope)],
      ['counts', () => store.counts({ workspaceId: '', projectId: 'p' })],
      ['stats', () => store.stats(scope)],
      ['stats', () => store.stats(scope, { memory: 'yes' as never })],
      ['subscribe', () => store.subscribe(scope, () => {}).then((stop) => stop())],
      ['subscribe', () => store.subscribe(scope, 'not a function' as never)],
      ['end', () => store.end(scope, 'a')],
      ['end', () => store.end(scope, 'a')],
      ['end', () => store.end(scope, '')],
      ['sweep', () => store.sweep()],
    ];
    const seen = await runAll(calls);
    expect(seen).toEqual([
      'enqueue ok',
      'enqueue CONFLICT',
      'enqueue INVALID_ARGUMENT',
      'enqueue PAYLOAD_TOO_LARGE',
      'start ok',
      'start CONFLICT',
      'start NOT_FOUND',
      'start INVALID_ARGUMENT',
      'progress ok',
      'progress PAYLOAD_TOO_LARGE',
      'progress NOT_FOUND',
      'progress INVALID_ARGUMENT',
      'heartbeat ok',
      'heartbeat NOT_FOUND',
      'heartbeat INVALID_ARGUMENT',
      'get ok',
      'get INVALID_ARGUMENT',
      'list ok',
      'list INVALID_ARGUMENT',
      'counts ok',
      'counts INVALID_ARGUMENT',
      'stats ok',
      'stats INVALID_ARGUMENT',
      'subscribe ok',
      'subscribe INVALID_ARGUMENT',
      'end ok',
      'end NOT_FOUND',
      'end INVALID_ARGUMENT',
      'sweep ok',
    ]);
    const points = await sdk.points();
    const counted = byAttributes(points, INSTRUMENT_NAMES.operations, outcomes);
    expect(counted).toEqual(Object.fromEntries(seen.map((s) => [s, 1])));
    const durations = points.filter((p) => p.name === INSTRUMENT_NAMES.operationDuration);
    expect(durations.every((p) => p.unit === 's')).toBe(true);
    const perOperation = Object.fromEntries(
      durations.map((p) => [p.attributes.operation, [p.value, p.sum]]),
    );
    for (const operation of new Set(calls.map(([name]) => name))) {
      const expected = calls.filter(([name]) => name === operation).length;
      const [count, sum] = perOperation[operation as string] ?? [];
      expect(count, operation).toBe(expected);
      expect(sum, operation).toBeGreaterThan(0);
      expect(sum, operation).toBeLessThan(expected * 5); // seconds, not milliseconds
    }
    // no workspace or project attributes unless asked for
    for (const point of points) {
      expect(Object.keys(point.attributes)).not.toContain('workspace_id');
      expect(Object.keys(point.attributes)).not.toContain('project_id');
    }
    await sdk.shutdown();
  });

  it.skipIf(h.topology === 'cluster')(
    'REDIS_UNAVAILABLE and TIMEOUT are counted for every operation that calls Redis',
    async () => {
      const sdk = inMemorySdk();
      const server = await startRedisServer();
      const store = createActiveRunStore({
        redis: server.url,
        prefix: uniquePrefix('otel-down'),
        commandTimeoutMs: 200,
        telemetry: { meterProvider: sdk.meterProvider },
      });
      const every = (): [string, () => Promise<unknown>][] => [
        ['enqueue', () => store.enqueue(scope, { id: 'x' })],
        ['start', () => store.start(scope, 'x')],
        ['progress', () => store.progress(scope, 'x', { caption: 'c' })],
        ['heartbeat', () => store.heartbeat(scope, 'x')],
        ['end', () => store.end(scope, 'x')],
        ['get', () => store.get(scope, 'x')],
        ['list', () => store.list(scope)],
        ['counts', () => store.counts(scope)],
        ['stats', () => store.stats(scope)],
        ['sweep', () => store.sweep()],
      ];
      try {
        await store.enqueue(scope, { id: 'warm' });
        process.kill(server.pid, 'SIGSTOP'); // sent, never answered
        const stalled = await Promise.all(every().map(([, call]) => codeOf(call())));
        process.kill(server.pid, 'SIGCONT');
        await server.kill('SIGKILL'); // nothing can be sent
        // ...once the client has seen the connection close: a call sent before that waits for
        // its timeout (a TIMEOUT, once, on a loaded CI machine)
        for (let i = 0; i < 300 && store.redis.status === 'ready'; i++) await sleep(10);
        expect(store.redis.status).not.toBe('ready');
        const down = await Promise.all(every().map(([, call]) => codeOf(call())));
        expect(new Set(stalled)).toEqual(new Set(['TIMEOUT']));
        expect(new Set(down)).toEqual(new Set(['REDIS_UNAVAILABLE']));
        const counted = byAttributes(await sdk.points(), INSTRUMENT_NAMES.operations, outcomes);
        for (const [operation] of every()) {
          expect(counted[`${operation} TIMEOUT`], operation).toBe(1);
          expect(counted[`${operation} REDIS_UNAVAILABLE`], operation).toBe(1);
        }
        // a failed pass is measured too
        const passes = byAttributes(await sdk.points(), INSTRUMENT_NAMES.sweepDuration, (a) =>
          String(a.outcome),
        );
        expect(passes).toEqual({ TIMEOUT: 1, REDIS_UNAVAILABLE: 1 });
      } finally {
        await server.stop(); // SIGCONT first if it is still stopped
        await store.close();
        await sdk.shutdown();
      }
    },
  );

  it('a sweep records the runs it expired, the lapsed runs it saw and its duration', async () => {
    const sdk = inMemorySdk();
    const store = h.store({ leaseMs: 100, telemetry: { meterProvider: sdk.meterProvider } });
    for (const id of ['a', 'b', 'c']) await store.enqueue(scope, { id });
    await store.enqueue({ workspaceId: 'w2', projectId: 'p2' }, { id: 'd' });
    await sleep(250);
    const result = await store.sweep();
    expect(result.expired).toBe(4);
    const points = await sdk.points();
    expect(byAttributes(points, INSTRUMENT_NAMES.expired, () => 'all')).toEqual({ all: 4 });
    expect(byAttributes(points, INSTRUMENT_NAMES.sweepLapsed, (a) => String(a.kind))).toEqual({
      new: 4,
    });
    const [pass, ...more] = points.filter((p) => p.name === INSTRUMENT_NAMES.sweepDuration);
    expect(more).toEqual([]);
    expect(pass).toMatchObject({ unit: 's', value: 1, attributes: { outcome: 'ok' } });
    expect(pass?.sum).toBeCloseTo(result.durationMs / 1000, 6);
    await sdk.shutdown();
  });

  it.skipIf(h.topology === 'cluster')(
    'live subscriptions are counted, and a cut subscription records a gap',
    async () => {
      const sdk = inMemorySdk();
      const server = await startRedisServer();
      const admin = connect(server.url);
      const store = createActiveRunStore({
        redis: server.url,
        prefix: uniquePrefix('otel-gap'),
        telemetry: { meterProvider: sdk.meterProvider },
      });
      const subscribers = async () =>
        (await sdk.points())
          .filter((p) => p.name === INSTRUMENT_NAMES.subscribers)
          .reduce((sum, p) => sum + p.value, 0);
      try {
        const gaps: string[] = [];
        const stop = await store.subscribe(scope, (event) => {
          if (event.type === 'gap') gaps.push(event.reason);
        });
        const iterator = store.events({ workspaceId: 'w3', projectId: 'p3' });
        await iterator.next(); // its `subscribed` gap: live
        expect(await subscribers()).toBe(2);
        const list = String(await admin.call('CLIENT', 'LIST'));
        const id = /id=(\d+) .*name=active-runs-events/.exec(list)?.[1];
        expect(id).toBeDefined();
        await admin.call('CLIENT', 'KILL', 'ID', id!);
        await until('the handler was told to refetch', () => gaps.includes('reconnected'));
        const counted = byAttributes(await sdk.points(), INSTRUMENT_NAMES.eventGaps, (a) =>
          String(a.reason),
        );
        // one per subscription; the first notice (`subscribed`) is not a gap
        expect(counted).toEqual({ reconnected: 2 });
        await stop();
        await iterator.return?.();
        expect(await subscribers()).toBe(0);
      } finally {
        await store.close();
        admin.disconnect();
        await server.stop();
        await sdk.shutdown();
      }
    },
  );

  it('spans: one per store call, a child of the caller’s span, with the error code on failure', async () => {
    const sdk = inMemorySdk();
    const store = h.store({ telemetry: { tracerProvider: sdk.tracerProvider } });
    const app = sdk.tracerProvider.getTracer('app');
    await app.startActiveSpan('GET /runs', async (parent) => {
      await store.enqueue(scope, { id: 'a' });
      await store.end(scope, 'missing').catch(() => {});
      parent.end();
    });
    const spans = sdk.spans.getFinishedSpans();
    const parent = spans.find((s) => s.name === 'GET /runs');
    const enqueue = spans.find((s) => s.name === 'active_runs.enqueue');
    const end = spans.find((s) => s.name === 'active_runs.end');
    expect(spans.map((s) => s.name).sort()).toEqual([
      'GET /runs',
      'active_runs.end',
      'active_runs.enqueue',
    ]);
    for (const span of [enqueue, end]) {
      expect(span?.spanContext().traceId).toBe(parent?.spanContext().traceId);
      expect(span?.parentSpanContext?.spanId).toBe(parent?.spanContext().spanId);
      expect(span?.attributes['db.system']).toBe('redis');
      expect(span?.attributes.workspace_id).toBeUndefined();
    }
    expect(enqueue?.status.code).toBe(0); // unset: ok
    expect(end?.status.code).toBe(2); // error
    expect(end?.attributes['error.type']).toBe('NOT_FOUND');
    // a store with a meter but no tracer provider opens no span, even inside the caller's
    const metered = h.store({ telemetry: { meterProvider: sdk.meterProvider } });
    sdk.spans.reset();
    await app.startActiveSpan('GET /counts', async (span) => {
      await metered.counts(scope);
      span.end();
    });
    expect(sdk.spans.getFinishedSpans().map((s) => s.name)).toEqual(['GET /counts']);
    await sdk.shutdown();
  });

  it('scopeAttributes: true adds workspace_id and project_id to metrics and spans', async () => {
    const sdk = inMemorySdk();
    const store = h.store({
      telemetry: {
        meterProvider: sdk.meterProvider,
        tracerProvider: sdk.tracerProvider,
        scopeAttributes: true,
      },
    });
    await store.enqueue({ workspaceId: 7, projectId: 'p9' }, { id: 'a' });
    const [point] = (await sdk.points()).filter((p) => p.name === INSTRUMENT_NAMES.operations);
    expect(point?.attributes).toEqual({
      operation: 'enqueue',
      outcome: 'ok',
      workspace_id: '7',
      project_id: 'p9',
    });
    const [span] = sdk.spans.getFinishedSpans();
    expect(span?.attributes).toMatchObject({ workspace_id: '7', project_id: 'p9' });
    await sdk.shutdown();
  });

  it('with the SDK registered globally, a store created with no option reports (no code needed)', async () => {
    const sdk = inMemorySdk();
    metrics.setGlobalMeterProvider(sdk.meterProvider);
    trace.setGlobalTracerProvider(sdk.tracerProvider);
    try {
      const store = h.store();
      await store.list(scope);
      expect(byAttributes(await sdk.points(), INSTRUMENT_NAMES.operations, outcomes)).toEqual({
        'list ok': 1,
      });
      expect(sdk.spans.getFinishedSpans().map((s) => s.name)).toEqual(['active_runs.list']);
    } finally {
      metrics.disable();
      trace.disable();
      await sdk.shutdown();
    }
  });
});
