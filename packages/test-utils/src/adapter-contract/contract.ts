import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, inject } from 'vitest';
import { connect, deletePrefix } from '../fixtures.js';
import type { ContractContext } from './context.js';
import { createContractContext } from './context.js';
import { errorContract } from './errors.contract.js';
import type { AdapterHarness, MakeAdapterHarness } from './harness.js';
import { isolationContract } from './isolation.contract.js';
import { lifecycleContract } from './lifecycle.contract.js';
import { routeContract } from './routes.contract.js';
import { sseContract } from './sse.contract.js';

/**
 * The contract every adapter passes: the same HTTP API, error mapping, tenant isolation and
 * live stream, on a real Redis (`inject('redisUrl')`, see `redisGlobalSetup`).
 *
 * @param name shown in the test names, e.g. `fastify` or `nestjs (express)`
 * @param makeHarness starts an app with the adapter as the suite asks (see {@link AdapterHarnessOptions})
 *
 * @example
 * runAdapterContract('fastify', async (options) => {
 *   const app = Fastify();
 *   await app.register(activeRuns, { redis: options.redisUrl, prefix: options.prefix, ... });
 *   await app.listen({ port: 0, host: '127.0.0.1' });
 *   return { url: `http://127.0.0.1:${port}`, store: app.activeRuns, close: () => app.close() };
 * });
 */
export function runAdapterContract(name: string, makeHarness: MakeAdapterHarness): void {
  describe(`active-runs adapter contract: ${name}`, () => {
    let redis: Redis | undefined;
    let shared: { harness: AdapterHarness; prefix: string } | undefined;
    const prefixes: string[] = [];
    const cleanups: (() => Promise<void> | void)[] = [];
    const redisUrl = () => inject('redisUrl');

    const ctx: ContractContext = createContractContext(makeHarness, {
      redisUrl,
      redis: () => {
        redis ??= connect(redisUrl());
        return redis;
      },
      shared: () => {
        if (!shared) throw new Error('the shared app did not start');
        return shared;
      },
      track: (prefix) => prefixes.push(prefix),
      onCleanup: (cleanup) => cleanups.push(cleanup),
    });

    beforeAll(async () => {
      const options = ctx.options();
      shared = { harness: await makeHarness(options), prefix: options.prefix };
    });
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });
    afterAll(async () => {
      await shared?.harness.close();
      const client = ctx.redis();
      for (const prefix of prefixes) await deletePrefix(client, prefix);
      await client.quit();
    });

    describe('routes answer as the store', () => routeContract(ctx));
    describe('errors and bad input', () => errorContract(ctx));
    describe('tenant isolation', () => isolationContract(ctx));
    describe('event stream (SSE)', () => sseContract(ctx));
    describe('start-up and shut-down', () => lifecycleContract(ctx));
  });
}
