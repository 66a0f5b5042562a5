import 'reflect-metadata';
import type { ActiveRunStore } from '@active-runs/core';
import { ACTIVE_RUN_STORE, ActiveRunsModule } from '@active-runs/nestjs';
import { Controller, Get, Header, Inject, Module, Req } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { Redis } from 'ioredis';
import type { BenchApp, FloorPage, ServerChildOptions } from './app-setup.js';
import {
  ADAPTER_PREFIX,
  BARE_PATH,
  FLOOR_PATH,
  headerScope,
  LEGACY_PATH,
  legacyPage,
  queryLimit,
  SERIALIZE_PATH,
} from './app-setup.js';

/** What Express's `res.json` sends, the adapter's content type: the floor sends the same. */
const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

interface BenchRequest {
  headers: Record<string, string | string[] | undefined>;
  query: { limit?: string };
}

/**
 * A NestJS app on its default platform (Express), as a user would write it:
 * `ActiveRunsModule.forRoot` with its controller under `/api`, and a controller of its own with
 * the routes the bench compares it with (app-setup.ts), through Nest's usual route handling.
 * Decorators are applied as calls: esbuild emits no decorator metadata.
 */
export async function startNestApp(
  options: ServerChildOptions,
  redis: Redis,
  floor: FloorPage,
): Promise<BenchApp> {
  class BenchController {
    constructor(private readonly store: ActiveRunStore) {}
    floor(): string {
      return floor.body;
    }
    serialize(): string {
      return JSON.stringify(floor.page);
    }
    bare(request: BenchRequest) {
      return this.store.list(headerScope(request), { limit: queryLimit(request.query) });
    }
    legacy(request: BenchRequest) {
      return legacyPage(redis, headerScope(request), queryLimit(request.query));
    }
  }
  Inject(ACTIVE_RUN_STORE)(BenchController, undefined, 0);
  Controller()(BenchController);
  const proto = BenchController.prototype;
  const route = (name: keyof BenchController, path: string, decorators: MethodDecorator[] = []) => {
    const descriptor = Object.getOwnPropertyDescriptor(proto, name)!;
    for (const decorate of [...decorators, Get(path)]) decorate(proto, name, descriptor);
  };
  route('floor', FLOOR_PATH, [Header('content-type', JSON_CONTENT_TYPE)]);
  route('serialize', SERIALIZE_PATH, [Header('content-type', JSON_CONTENT_TYPE)]);
  route('bare', BARE_PATH);
  Req()(proto, 'bare', 0);
  route('legacy', LEGACY_PATH);
  Req()(proto, 'legacy', 0);

  class BenchModule {}
  Module({
    imports: [
      ActiveRunsModule.forRoot({
        redis,
        prefix: options.storePrefix,
        routes: { prefix: ADAPTER_PREFIX, resolveScope: headerScope },
      }),
    ],
    controllers: [BenchController],
  })(BenchModule);

  const app = await NestFactory.create(BenchModule, { logger: false });
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address() as { port: number };
  return { port: address.port, close: () => app.close() };
}
