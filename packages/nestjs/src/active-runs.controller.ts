import type { ServerResponse } from 'node:http';
import type {
  ActiveRunsHttpHandler,
  ActiveRunsHttpRequest,
  ActiveRunsRoute,
  ActiveRunsRouteName,
  ResolvedRoutesOptions,
  SseStreamRegistry,
} from '@active-runs/core';
import { activeRunsRoutes } from '@active-runs/core';
import {
  Controller,
  Header,
  HttpCode,
  HttpException,
  Inject,
  type MessageEvent,
  Req,
  RequestMapping,
  RequestMethod,
  Res,
  Sse,
  SseSignal,
  type Type,
} from '@nestjs/common';
import { Observable } from 'rxjs';
import { ACTIVE_RUNS_HTTP } from './active-runs.constants.js';

/** What the controller's methods call: the core's handler with the module's route table. */
export interface ActiveRunsHttp {
  handler: ActiveRunsHttpHandler<ActiveRunsHttpRequest>;
  routes: ReadonlyMap<ActiveRunsRouteName, ActiveRunsRoute>;
  streams: SseStreamRegistry;
  heartbeatMs: number;
}

interface ControllerInstance {
  http: ActiveRunsHttp;
}

type Method = (this: ControllerInstance, ...args: never[]) => Promise<unknown>;

/** What Express's `res.json` sends; the list route sets it for the JSON text it returns. */
const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/**
 * A JSON route: the core answers; an error answer becomes an HttpException with that body. A
 * body the core already wrote as JSON (the list page, pasted from each run's stored JSON) is
 * returned as that text, which the platform sends as it is under the route's JSON content type.
 */
function jsonMethod(name: ActiveRunsRouteName): Method {
  return async function (this: ControllerInstance, request: ActiveRunsHttpRequest) {
    const { status, body, json } = await this.http.handler.handle(
      this.http.routes.get(name)!,
      request,
    );
    if (status >= 400) throw new HttpException(body as Record<string, unknown>, status);
    return json ?? body;
  };
}

/** The event stream, as the Observable Nest's `@Sse()` frames. */
function streamMethod(name: ActiveRunsRouteName): Method {
  return async function (
    this: ControllerInstance,
    request: ActiveRunsHttpRequest,
    clientGone: AbortSignal,
    response: ServerResponse | { raw: ServerResponse },
  ) {
    const { handler, routes, streams, heartbeatMs } = this.http;
    const lease = streams.track(clientGone);
    // once the response is closed: closing the app waits for this, so the connection is idle
    // when the server closes (Express's response is the ServerResponse, Fastify's reply has it)
    ('raw' in response ? response.raw : response).once('close', lease.release);
    const opened = await handler.openEventStream(routes.get(name)!, request, lease.signal);
    if (!('stream' in opened)) {
      throw new HttpException(opened.body as Record<string, unknown>, opened.status);
    }
    const { stream } = opened;
    return new Observable<MessageEvent>((subscriber) => {
      // a comment-only message: Nest writes it as a `: heartbeat` line
      const heartbeat = setInterval(() => subscriber.next({ comment: 'heartbeat' }), heartbeatMs);
      void (async () => {
        try {
          for await (const message of stream) {
            subscriber.next({ type: message.event, id: message.id, data: message.data });
          }
          subscriber.complete();
        } catch (error) {
          subscriber.error(error);
        } finally {
          clearInterval(heartbeat);
        }
      })();
      return () => clearInterval(heartbeat);
    });
  };
}

/**
 * The controller of the HTTP API, built from the core's route table: one method per route,
 * mounted under `routes.prefix`, write routes only with `routes.writes`.
 */
export function createActiveRunsController(options: ResolvedRoutesOptions<unknown>): Type<unknown> {
  class ActiveRunsController implements ControllerInstance {
    constructor(readonly http: ActiveRunsHttp) {}
  }
  Inject(ACTIVE_RUNS_HTTP)(ActiveRunsController, undefined, 0);
  Controller(options.prefix)(ActiveRunsController);

  const prototype = ActiveRunsController.prototype as unknown as Record<string, Method>;
  for (const route of activeRunsRoutes({ writes: options.writes })) {
    prototype[route.name] = route.stream ? streamMethod(route.name) : jsonMethod(route.name);
    const descriptor = Object.getOwnPropertyDescriptor(prototype, route.name)!;
    const decorators: MethodDecorator[] = route.stream
      ? [Sse(route.path)]
      : [
          RequestMapping({ path: route.path, method: RequestMethod[route.method] }),
          HttpCode(route.successStatus),
          // set before the method runs, so an error answer is JSON under it as well
          ...(route.name === 'list' ? [Header('content-type', JSON_CONTENT_TYPE)] : []),
        ];
    for (const decorate of decorators) decorate(prototype, route.name, descriptor);
    Req()(prototype, route.name, 0);
    if (route.stream) {
      SseSignal()(prototype, route.name, 1);
      Res({ passthrough: true })(prototype, route.name, 2);
    }
  }
  return ActiveRunsController;
}
