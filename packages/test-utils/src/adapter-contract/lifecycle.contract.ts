import { expect, it } from 'vitest';
import type { ContractContext } from './context.js';
import { runBody } from './context.js';

/** Start-up and shut-down: routes only with resolveScope, writes opt-in, a prompt close. */
export function lifecycleContract(ctx: ContractContext): void {
  it('refuses to start routes without resolveScope, saying so', async () => {
    await expect(ctx.start(ctx.options({ resolveScope: undefined }))).rejects.toThrow(
      /resolveScope.*required/,
    );
  });

  it('serves no write route unless routes.writes is on', async () => {
    const app = await ctx.start(ctx.options({ writes: false }));
    const scope = ctx.scope();
    const api = ctx.as(scope, app);
    expect((await api.get('/runs/active')).status).toBe(200);
    for (const [method, path, body] of [
      ['POST', '/runs/active', runBody('r1')],
      ['POST', '/runs/active/r1/start'],
      ['POST', '/runs/active/r1/heartbeat'],
      ['PATCH', '/runs/active/r1', { caption: 'x' }],
      ['DELETE', '/runs/active/r1'],
    ] as [string, string, unknown?][]) {
      const answer = await api.request(method, path, body);
      expect({ method, path, status: answer.status }).toEqual({ method, path, status: 404 });
    }
    await app.store.enqueue(scope, { id: 'r1' });
    expect((await api.get('/runs/active/r1')).status).toBe(200);
  });

  it('close() ends open event streams within a second', async () => {
    const app = await ctx.start(ctx.options());
    const scope = ctx.scope();
    const viewers = await Promise.all([1, 2, 3].map(() => ctx.sse(scope, {}, app)));
    await Promise.all(viewers.map((viewer) => viewer.event(1)));
    const started = Date.now();
    await app.close();
    await Promise.all(viewers.map((viewer) => viewer.ended));
    const elapsedMs = Date.now() - started;
    expect(elapsedMs).toBeLessThan(1_000);
    expect(viewers.every((viewer) => viewer.isEnded)).toBe(true);
  });
}
