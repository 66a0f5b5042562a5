import { expect, it } from 'vitest';
import type { ContractContext } from './context.js';
import { eventually, HEARTBEAT_MS, runBody, sleep } from './context.js';
import type { ContractScope } from './harness.js';
import type { SseEvent } from './sse-client.js';

/** Subscribers of the scope's channels (its keys carry the tag `{workspaceId:projectId}`). */
async function subscribersByChannel(ctx: ContractContext, scope: ContractScope): Promise<number[]> {
  const redis = ctx.redis();
  const tag = `{${scope.workspaceId}:${scope.projectId}}`;
  const channels = ((await redis.pubsub('CHANNELS', `${ctx.prefix()}:*`)) as string[]).filter(
    (channel) => channel.includes(tag),
  );
  if (channels.length === 0) return [];
  const reply = (await redis.pubsub('NUMSUB', ...channels)) as (string | number)[];
  return reply.filter((_, i) => i % 2 === 1).map(Number);
}

/** The live endpoint: framing, order, ids, gaps, heartbeats, release, one Redis subscriber. */
export function sseContract(ctx: ContractContext): void {
  it('sends a gap first, then one event per change (heartbeats too), named by its type, with id = seq', async () => {
    const scope = ctx.scope();
    const api = ctx.as(scope);
    const viewer = await ctx.sse(scope);
    expect(viewer.status).toBe(200);
    expect(viewer.contentType).toMatch(/^text\/event-stream/);
    const gap = await viewer.event(1);
    expect(gap.event).toBe('gap');
    expect(gap.id ?? '').toBe('');
    expect(gap.data).toEqual({ type: 'gap', scope, reason: 'subscribed' });

    await api.post('/runs/active', runBody('r1'));
    await api.post('/runs/active/r1/start');
    await api.post('/runs/active/r1/heartbeat');
    await api.patch('/runs/active/r1', { caption: 'half way' });
    await api.delete('/runs/active/r1');
    await viewer.until(() => viewer.events.length >= 6, 'four changes and a heartbeat');
    const all = viewer.events.slice(1);
    expect(all.map((e) => e.event)).toEqual([
      'queued',
      'started',
      'heartbeat',
      'progress',
      'ended',
    ]);
    // a heartbeat carries only the new lease deadline and the seq of the change before it
    const beat = all[2]!;
    expect(beat.data).toMatchObject({ type: 'heartbeat', scope, id: 'r1' });
    expect(typeof beat.data.leaseExpiresAt).toBe('number');
    expect(beat.data.run).toBeUndefined();
    const changes = all.filter((e) => e.event !== 'heartbeat');
    expect(beat.data.seq).toBe(changes[1]!.data.seq);
    const seqs = changes.map((e) => e.data.seq as number);
    expect(changes.map((e) => e.id)).toEqual(seqs.map(String));
    expect(seqs).toEqual([seqs[0], seqs[0]! + 1, seqs[0]! + 2, seqs[0]! + 3]);
    for (const change of changes) {
      expect(change.data).toMatchObject({ type: change.event, scope, id: 'r1' });
      expect(change.data.run.id).toBe('r1');
    }
    expect(changes[2]!.data.run.caption).toBe('half way');
    expect(changes[3]!.data.run).toMatchObject({ status: 'running', caption: 'half way' });
    expect(viewer.lastEventId).toBe(String(seqs[3]));
  });

  it('a reconnecting client that sends Last-Event-ID gets a gap first, keeping its position', async () => {
    const scope = ctx.scope();
    const api = ctx.as(scope);
    const first = await ctx.sse(scope);
    await first.event(1);
    await api.post('/runs/active', runBody('r1'));
    const queued = await first.event(2);
    first.close();
    await api.post('/runs/active/r1/start'); // missed while away

    const again = await ctx.sse(scope, { 'last-event-id': queued.id! });
    const gap = await again.event(1);
    expect(gap).toMatchObject({ event: 'gap', data: { type: 'gap', reason: 'reconnected' } });
    expect(again.lastEventId).toBe(queued.id);
    await api.delete('/runs/active/r1');
    const ended = await again.event(2);
    expect(ended.event).toBe('ended');
    expect(Number(ended.id)).toBe(Number(queued.id) + 2);

    const odd = await ctx.sse(scope, { 'last-event-id': 'not-a-seq' });
    expect((await odd.event(1)).data.reason).toBe('reconnected');
    expect(odd.lastEventId).toBe('');
  });

  it('delivers expired events from the sweeper', async () => {
    const scope = ctx.scope();
    const viewer = await ctx.sse(scope);
    await viewer.event(1);
    await ctx
      .app()
      .store.enqueue(scope, { id: 'stuck', leaseMs: 100, data: { model: 'm', tokens: 1 } });
    await sleep(150);
    await eventually(async () => {
      await ctx.app().store.sweep();
      return viewer.events.some((e) => e.event === 'expired');
    });
    const expired = viewer.events.find((e: SseEvent) => e.event === 'expired');
    expect(expired?.data).toMatchObject({ type: 'expired', id: 'stuck', run: { id: 'stuck' } });
  });

  it('writes a comment line every sseHeartbeatMs so proxies keep the stream open', async () => {
    const viewer = await ctx.sse(ctx.scope());
    await viewer.event(1);
    await viewer.until(
      () => viewer.comments.length >= 2,
      'two heartbeat comments',
      HEARTBEAT_MS * 15,
    );
    expect(viewer.events).toHaveLength(1);
  });

  it('serves any number of viewers from one subscriber and releases it when they leave', async () => {
    const scope = ctx.scope();
    const viewers = await Promise.all(Array.from({ length: 20 }, () => ctx.sse(scope)));
    await Promise.all(viewers.map((viewer) => viewer.event(1)));
    expect(await subscribersByChannel(ctx, scope)).toEqual([1]);

    await ctx.as(scope).post('/runs/active', runBody('r1'));
    await Promise.all(
      viewers.map((viewer) => viewer.until(() => viewer.events.length >= 2, 'the change')),
    );
    expect(new Set(viewers.map((viewer) => viewer.events[1]!.id)).size).toBe(1);

    for (const viewer of viewers.slice(1)) viewer.close();
    await sleep(200);
    expect(await subscribersByChannel(ctx, scope)).toEqual([1]);
    viewers[0]!.close();
    expect(
      await eventually(async () => (await subscribersByChannel(ctx, scope)).length === 0),
    ).toBe(true);
  });
}
