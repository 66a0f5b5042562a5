/**
 * The example on NestJS (platform-express): `ActiveRunsModule` serves the API under `/api` for
 * the scope of the demo login (an injectable resolver with its own dependency), and a
 * controller serves the dashboard and the login, from the same route table as the Fastify app.
 * @module
 */
import type { ActiveRunsScopeResolver } from '@active-runs/nestjs';
import { ActiveRunsModule } from '@active-runs/nestjs';
import {
  Controller,
  type DynamicModule,
  HttpException,
  Inject,
  Injectable,
  Module,
  Req,
  RequestMapping,
  RequestMethod,
  Res,
  type Type,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { type AppRequest, type AppRoute, exampleRoutes } from './app-routes.js';
import { setUpMetrics } from './metrics.js';
import {
  API_PREFIX,
  choosePort,
  localUrl,
  type RunningServer,
  type ServerConfig,
  storeOptions,
} from './server-config.js';
import { createDemoSessions, type DemoSessions, SessionError } from './session.js';

/** What the controller uses of Express's response. */
interface ExpressResponse {
  status(code: number): ExpressResponse;
  set(headers: Record<string, string | string[]>): ExpressResponse;
  send(body: unknown): void;
  json(body: unknown): void;
}

const CONFIG = Symbol('EXAMPLE_CONFIG');
const SESSIONS = Symbol('EXAMPLE_SESSIONS');

/** The caller's scope from the demo login; its 401/400 answer has the API's error body. */
@Injectable()
class SessionScope implements ActiveRunsScopeResolver {
  constructor(@Inject(SESSIONS) private readonly sessions: DemoSessions) {}

  resolveScope(request: AppRequest) {
    try {
      return this.sessions.resolveScope(request);
    } catch (error) {
      if (error instanceof SessionError) throw new HttpException(error.body, error.status);
      throw error;
    }
  }
}

/** A controller with one method per route of the example's table (`exampleRoutes`). */
function exampleController(routes: readonly AppRoute[]): Type<unknown> {
  @Controller()
  class ExampleController {}
  const prototype = ExampleController.prototype as unknown as Record<string, unknown>;
  for (const [index, route] of routes.entries()) {
    const name = `route${index}`;
    prototype[name] = async (request: AppRequest, response: ExpressResponse) => {
      const { status, headers, body } = await route.handle(request);
      response.status(status).set(headers);
      if (typeof body === 'string' || Buffer.isBuffer(body)) response.send(body);
      else response.json(body);
    };
    const descriptor = Object.getOwnPropertyDescriptor(prototype, name)!;
    RequestMapping({ path: route.path, method: RequestMethod[route.method] })(
      prototype,
      name,
      descriptor,
    );
    Req()(prototype, name, 0);
    Res()(prototype, name, 1);
  }
  return ExampleController;
}

/** Starts the NestJS server of the example. */
export async function startNestServer(config: ServerConfig): Promise<RunningServer> {
  const sessions = createDemoSessions({ secret: config.sessionSecret });
  setUpMetrics(); // before the store: it reports to the global meter provider it finds

  @Module({
    providers: [
      { provide: CONFIG, useValue: config },
      { provide: SESSIONS, useValue: sessions },
    ],
    exports: [CONFIG, SESSIONS],
  })
  class SessionsModule {}

  const appModule: DynamicModule = {
    module: class ExampleModule {},
    imports: [
      SessionsModule,
      ActiveRunsModule.forRootAsync({
        imports: [SessionsModule],
        inject: [CONFIG],
        useFactory: (serverConfig: ServerConfig) => storeOptions(serverConfig),
        isGlobal: true,
        routes: { prefix: API_PREFIX, resolveScope: SessionScope },
      }),
    ],
    controllers: [exampleController(exampleRoutes({ sessions, serverName: 'nestjs' }))],
  };

  const app = await NestFactory.create(appModule, { logger: ['error', 'warn'] });
  try {
    await app.listen(await choosePort(config), '127.0.0.1');
  } catch (error) {
    await app.close();
    throw error;
  }
  return { name: 'nestjs', url: localUrl(app.getHttpServer().address()), close: () => app.close() };
}
