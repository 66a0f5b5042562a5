/**
 * The HTTP layer's pure parts (the adapters' contract suite covers the rest over HTTP, on a
 * real Redis): SSE message ids and names, the stream registry, error fields, option checks.
 */
import { describe, expect, it } from 'vitest';
import { sseMessages } from '../src/http/sse.js';
import type { ActiveRunsSseMessage, RunEvent } from '../src/index.js';
import {
  ActiveRunsError,
  activeRunsRoutes,
  httpErrorResult,
  parseRoutesOptions,
  SseStreamRegistry,
} from '../src/index.js';

const scope = { workspaceId: 'w', projectId: 'p' };
const run = {
  id: 'r1',
  status: 'queued' as const,
  queuedAt: 1,
  startedAt: null,
  source: null,
  caption: null,
  data: null,
  leaseExpiresAt: 2,
};

async function collect(events: RunEvent[], lastEventId?: string): Promise<ActiveRunsSseMessage[]> {
  const [first, ...rest] = events;
  async function* more() {
    yield* rest;
  }
  const out: ActiveRunsSseMessage[] = [];
  for await (const message of sseMessages({ done: false, value: first! }, more(), lastEventId)) {
    out.push(message);
  }
  return out;
}

describe('sseMessages', () => {
  it('names each message by its type, ids changes by seq, and gaps repeat the last id', async () => {
    const messages = await collect([
      { type: 'gap', scope, reason: 'subscribed' },
      { type: 'queued', scope, seq: 7, id: 'r1', run },
      { type: 'gap', scope, reason: 'missed' },
      // a type the store may add later reaches clients as is
      { type: 'heartbeat', scope } as unknown as RunEvent,
      { type: 'ended', scope, seq: 9, id: 'r1', run },
    ]);
    expect(messages.map((m) => [m.event, m.id])).toEqual([
      ['gap', ''],
      ['queued', '7'],
      ['gap', '7'],
      ['heartbeat', '7'],
      ['ended', '9'],
    ]);
    expect(messages[0]!.data).toEqual({ type: 'gap', scope, reason: 'subscribed' });
  });

  it('tells a client that sends Last-Event-ID it reconnected, keeping its id', async () => {
    const [gap] = await collect([{ type: 'gap', scope, reason: 'subscribed' }], '41');
    expect(gap).toEqual({
      event: 'gap',
      id: '41',
      data: { type: 'gap', scope, reason: 'reconnected' },
    });
    const [odd] = await collect([{ type: 'gap', scope, reason: 'subscribed' }], 'x\ny');
    expect(odd).toMatchObject({ id: '', data: { reason: 'reconnected' } });
  });

  it('sends nothing when the subscription ended before it was live', async () => {
    const none = sseMessages(
      { done: true, value: undefined },
      (async function* () {})(),
      undefined,
    );
    expect((await none.next()).done).toBe(true);
  });
});

describe('SseStreamRegistry', () => {
  it('endAll aborts every stream and resolves once each released', async () => {
    const registry = new SseStreamRegistry();
    const clientGone = new AbortController();
    const a = registry.track(clientGone.signal);
    const b = registry.track();
    clientGone.abort();
    expect(a.signal.aborted).toBe(true);
    expect(registry.size).toBe(2); // aborted, but its response is not closed yet
    let ended = false;
    const closing = registry.endAll().then(() => {
      ended = true;
    });
    expect(b.signal.aborted).toBe(true);
    a.release();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(ended).toBe(false);
    b.release();
    await closing;
    expect(registry.size).toBe(0);
    expect(registry.track().signal.aborted).toBe(true);
  });

  it('endAll gives up waiting after a second', async () => {
    const registry = new SseStreamRegistry();
    registry.track();
    const started = Date.now();
    await registry.endAll();
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });
});

describe('httpErrorResult', () => {
  it('maps the code to its status and names the field as the caller sent it', () => {
    const error = new ActiveRunsError('INVALID_ARGUMENT', 'bad', { details: { field: 'id' } });
    expect(httpErrorResult(error, true)).toEqual({
      status: 400,
      body: { error: { code: 'INVALID_ARGUMENT', message: 'bad', field: 'runId' } },
    });
    expect(httpErrorResult(error, false).body).toMatchObject({ error: { field: 'id' } });
    const limit = new ActiveRunsError('INVALID_ARGUMENT', 'x', {
      details: { field: 'options.limit' },
    });
    expect(httpErrorResult(limit).body).toMatchObject({ error: { field: 'limit' } });
    expect(httpErrorResult(new ActiveRunsError('TIMEOUT', 'slow'))).toEqual({
      status: 504,
      body: { error: { code: 'TIMEOUT', message: 'slow' } },
    });
  });
});

describe('parseRoutesOptions and the route table', () => {
  it('requires resolveScope and checks the prefix', () => {
    expect(() => parseRoutesOptions({ prefix: '/api' } as never)).toThrow(
      /routes\.resolveScope: is required/,
    );
    expect(() => parseRoutesOptions({ prefix: '/api/', resolveScope: () => scope })).toThrow(
      /routes\.prefix/,
    );
    expect(() => parseRoutesOptions({ resolveScope: () => scope, sseHeartbeatMs: 5 })).toThrow(
      /routes\.sseHeartbeatMs/,
    );
    expect(parseRoutesOptions({ resolveScope: () => scope })).toMatchObject({
      prefix: '',
      writes: false,
      sseHeartbeatMs: 15_000,
    });
    expect(parseRoutesOptions(undefined)).toBeUndefined();
  });

  it('has write routes only with writes, and static paths before :runId', () => {
    expect(activeRunsRoutes().map((r) => r.name)).toEqual(['list', 'counts', 'events', 'get']);
    const all = activeRunsRoutes({ writes: true });
    expect(all.map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /runs/active',
      'GET /runs/active/counts',
      'GET /runs/active/events',
      'GET /runs/active/:runId',
      'POST /runs/active',
      'POST /runs/active/:runId/start',
      'POST /runs/active/:runId/heartbeat',
      'PATCH /runs/active/:runId',
      'DELETE /runs/active/:runId',
    ]);
  });
});
