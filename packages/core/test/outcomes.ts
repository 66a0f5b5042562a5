import type { Cluster, Redis } from 'ioredis';
import { expect } from 'vitest';
import { ActiveRunsError } from '../src/index.js';

/** What a store call did: its value, or the code of the ActiveRunsError it failed with. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; code: string };

/** Settles a store call into an {@link Outcome}, so model tests compare failures like values. */
export async function settle<T>(promise: Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    if (error instanceof ActiveRunsError) return { ok: false, code: error.code };
    return { ok: false, code: `unexpected: ${String(error)}` };
  }
}

/** The value of a successful outcome (fails the test otherwise). */
export function expectOk<T>(outcome: Outcome<T>): T {
  expect(outcome).toMatchObject({ ok: true });
  return (outcome as { value: T }).value;
}

/** Clock helpers bound to one client: the Redis server's clock, which the scripts use. */
export function redisClock(client: Redis | Cluster) {
  async function serverNow(): Promise<number> {
    const [seconds, micros] = await client.time();
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  }
  /** Runs a call between two reads of the Redis clock, which bound the TIME its script saw. */
  async function timed<T>(
    call: () => Promise<T>,
  ): Promise<{ outcome: Outcome<T>; before: number; after: number }> {
    const before = await serverNow();
    const outcome = await settle(call());
    const after = await serverNow();
    return { outcome, before, after };
  }
  return { serverNow, timed };
}
