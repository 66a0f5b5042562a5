import type {} from 'vitest';
import { provideRedis } from './provide-redis.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    redisSource: string;
  }
}

interface GlobalSetupContext {
  provide(key: 'redisUrl' | 'redisSource', value: string): void;
}

/**
 * Vitest globalSetup: one Redis for the test run (see provideRedis), handed to test files as
 * `inject('redisUrl')`; stopped after the run.
 */
export async function redisGlobalSetup(context: GlobalSetupContext): Promise<() => Promise<void>> {
  const redis = await provideRedis();
  context.provide('redisUrl', redis.url);
  context.provide('redisSource', redis.source);
  return () => redis.stop();
}
