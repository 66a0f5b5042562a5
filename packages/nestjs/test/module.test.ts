import type { ActiveRunStore, Scope } from '@active-runs/core';
import { connect, deletePrefix, freePort, uniquePrefix } from '@active-runs/test-utils';
import {
  Controller,
  Get,
  HttpException,
  type INestApplication,
  Inject,
  Injectable,
  Module,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import {
  ACTIVE_RUN_STORE,
  ActiveRunsModule,
  type ActiveRunsModuleOptions,
  type ActiveRunsScopeResolver,
  InjectActiveRuns,
} from '../src/index.js';

const redisUrl = inject('redisUrl');
const admin: Redis = connect(redisUrl);
const prefixes: string[] = [];
const apps: INestApplication[] = [];
const scope: Scope = { workspaceId: 'w1', projectId: 'p1' };

function prefix(): string {
  const value = uniquePrefix('nest');
  prefixes.push(value);
  return value;
}

async function start(module: unknown): Promise<INestApplication> {
  const app = await NestFactory.create(module as never, { logger: false });
  apps.push(app);
  await app.init();
  return app;
}

afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
  for (const value of prefixes.splice(0)) await deletePrefix(admin, value);
});
afterAll(async () => {
  await admin.quit();
});

/** A config provider, as an app's ConfigService would be. */
@Injectable()
class RunsConfig {
  readonly redis = redisUrl;
  readonly prefix = prefix();
  createActiveRunsOptions(): ActiveRunsModuleOptions {
    return { redis: this.redis, prefix: this.prefix };
  }
}

@Module({ providers: [RunsConfig], exports: [RunsConfig] })
class ConfigModule {}

/** A service of the app that injects the store. */
@Injectable()
class RunsService {
  constructor(@InjectActiveRuns() readonly runs: ActiveRunStore<unknown>) {}
}

describe('ActiveRunsModule.forRoot', () => {
  it('provides the store under ACTIVE_RUN_STORE, injected with @InjectActiveRuns()', async () => {
    @Module({
      imports: [ActiveRunsModule.forRoot({ redis: redisUrl, prefix: prefix() })],
      providers: [RunsService],
    })
    class AppModule {}
    const app = await start(AppModule);
    const service = app.get(RunsService);
    expect(service.runs).toBe(app.get(ACTIVE_RUN_STORE));
    await service.runs.enqueue(scope, { id: 'r1' });
    expect((await service.runs.counts(scope)).total).toBe(1);
  });

  it('isGlobal makes the store injectable in modules that do not import it', async () => {
    @Module({ providers: [RunsService], exports: [RunsService] })
    class FeatureModule {}
    @Module({
      imports: [
        ActiveRunsModule.forRoot({ redis: redisUrl, prefix: prefix(), isGlobal: true }),
        FeatureModule,
      ],
    })
    class AppModule {}
    const app = await start(AppModule);
    expect(app.get(RunsService).runs).toBe(app.get(ACTIVE_RUN_STORE));
  });

  it('fails the start with a clear message when Redis is unreachable', async () => {
    const port = await freePort();
    await expect(
      NestFactory.create(
        ActiveRunsModule.forRoot({ redis: `redis://127.0.0.1:${port}`, commandTimeoutMs: 500 }),
        { logger: false, abortOnError: false },
      ),
    ).rejects.toThrow(/could not reach Redis at start-up/);
  });

  it('fails at import, naming the option, when routes have no resolveScope', () => {
    expect(() =>
      ActiveRunsModule.forRoot({ redis: redisUrl, routes: { prefix: '/api' } as never }),
    ).toThrow(/routes\.resolveScope: is required/);
    expect(() =>
      ActiveRunsModule.forRootAsync({
        useFactory: () => ({ redis: redisUrl }),
        routes: { resolveScope: 'header' } as never,
      }),
    ).toThrow(/routes\.resolveScope: must be a function/);
  });

  it('on shutdown quits the client it created from a URL, and stops the sweeper it started', async () => {
    const expired: string[] = [];
    const app = await NestFactory.create(
      ActiveRunsModule.forRoot({
        redis: redisUrl,
        prefix: prefix(),
        sweeper: { intervalMs: 20 },
        onExpired: (run) => {
          expired.push(run.id);
        },
      }),
      { logger: false },
    );
    await app.init();
    const store = app.get<ActiveRunStore<unknown>>(ACTIVE_RUN_STORE);
    await store.enqueue(scope, { id: 'stuck', leaseMs: 100 });
    await expect.poll(() => expired, { timeout: 5_000 }).toEqual(['stuck']);
    await app.close();
    await expect(store.sweep()).rejects.toThrow(/closed/);
    await expect.poll(() => store.redis.status).toBe('end');
  });

  it('on shutdown leaves a client passed in open', async () => {
    const client = connect(redisUrl);
    const app = await NestFactory.create(
      ActiveRunsModule.forRoot({ redis: client, prefix: prefix() }),
      { logger: false },
    );
    await app.init();
    const store = app.get<ActiveRunStore<unknown>>(ACTIVE_RUN_STORE);
    await app.close();
    await expect(store.get(scope, 'r1')).rejects.toThrow(/closed/);
    expect(await client.ping()).toBe('PONG');
    await client.quit();
  });
});

describe('ActiveRunsModule.forRootAsync', () => {
  it('useFactory with imports and inject', async () => {
    const app = await start(
      ActiveRunsModule.forRootAsync({
        imports: [ConfigModule],
        inject: [RunsConfig],
        useFactory: async (config: RunsConfig) => ({ redis: config.redis, prefix: config.prefix }),
      }),
    );
    const store = app.get<ActiveRunStore<unknown>>(ACTIVE_RUN_STORE);
    expect(store.prefix).toBe(app.get(RunsConfig).prefix);
    await store.enqueue(scope, { id: 'r1' });
    expect(await store.get(scope, 'r1')).toMatchObject({ id: 'r1' });
  });

  it('useClass: an options factory class', async () => {
    const app = await start(ActiveRunsModule.forRootAsync({ useClass: RunsConfig }));
    const store = app.get<ActiveRunStore<unknown>>(ACTIVE_RUN_STORE);
    expect(store.prefix).toMatch(/^test:nest:/);
    expect(await store.counts(scope)).toMatchObject({ total: 0 });
  });

  it('useExisting: an options factory provided by an imported module', async () => {
    const app = await start(
      ActiveRunsModule.forRootAsync({ imports: [ConfigModule], useExisting: RunsConfig }),
    );
    expect(app.get<ActiveRunStore<unknown>>(ACTIVE_RUN_STORE).prefix).toBe(
      app.get(RunsConfig, { strict: false }).prefix,
    );
  });
});

describe('routes', () => {
  it('resolveScope may be an injectable class that uses other providers; its HttpException passes through', async () => {
    @Injectable()
    class Tokens {
      scopeOf(token: string | undefined): Scope | undefined {
        return token === 'secret' ? scope : undefined;
      }
    }
    @Injectable()
    class HeaderScope implements ActiveRunsScopeResolver {
      constructor(@Inject(Tokens) private readonly tokens: Tokens) {}
      resolveScope(request: { headers: Record<string, string | undefined> }): Scope {
        const found = this.tokens.scopeOf(request.headers.authorization);
        if (!found) throw new HttpException({ reason: 'who are you?' }, 401);
        return found;
      }
    }
    @Module({ providers: [Tokens], exports: [Tokens] })
    class AuthModule {}
    @Controller('other')
    class OtherController {
      @Get()
      other() {
        return { ok: true };
      }
    }
    @Module({
      imports: [
        ActiveRunsModule.forRootAsync({
          imports: [AuthModule],
          useFactory: () => ({ redis: redisUrl, prefix: prefix() }),
          routes: { prefix: '/api', resolveScope: HeaderScope },
        }),
      ],
      controllers: [OtherController],
    })
    class AppModule {}
    const app = await start(AppModule);
    await app.listen(0, '127.0.0.1');
    const base = await app.getUrl();
    await app.get<ActiveRunStore<unknown>>(ACTIVE_RUN_STORE).enqueue(scope, { id: 'r1' });
    const ok = await fetch(`${base}/api/runs/active`, { headers: { authorization: 'secret' } });
    expect(ok.status).toBe(200);
    const page = (await ok.json()) as { items: { id: string }[] };
    expect(page.items.map((run) => run.id)).toEqual(['r1']);
    const denied = await fetch(`${base}/api/runs/active`);
    expect(denied.status).toBe(401);
    expect(await denied.json()).toEqual({ reason: 'who are you?' });
    expect(await (await fetch(`${base}/other`)).json()).toEqual({ ok: true });
  });
});
