import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type {
  AdapterHarness,
  AdapterHarnessOptions,
  ContractRequest,
  ContractScope,
  MakeAdapterHarness,
} from './harness.js';
import { ContractHttpError, FORBIDDEN_WORKSPACE, SCOPE_HEADERS } from './harness.js';
import { ApiClient } from './http-client.js';
import { SseClient } from './sse-client.js';

/** The app's `data`, as the suite's store validates it. */
export const contractDataSchema = z.strictObject({
  model: z.string(),
  tokens: z.number().int().min(0),
});

/** Routes prefix of the suite's apps: the API lives under it and nowhere else. */
export const ROUTES_PREFIX = '/api/v1';

/** Heartbeat interval of the suite's apps, short so the test sees comment lines quickly. */
export const HEARTBEAT_MS = 200;

function header(request: ContractRequest, name: string): string | undefined {
  const value = request.headers[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** The suite's auth: the scope from two headers; none is 401, the forbidden workspace 403. */
export async function contractResolveScope(request: ContractRequest): Promise<ContractScope> {
  await Promise.resolve(); // async, as a real lookup would be
  const workspaceId = header(request, SCOPE_HEADERS.workspace);
  const projectId = header(request, SCOPE_HEADERS.project) ?? 'p1';
  if (!workspaceId) throw new ContractHttpError(401, 'contract: no credentials');
  if (workspaceId === FORBIDDEN_WORKSPACE)
    throw new ContractHttpError(403, 'contract: workspace forbidden');
  return { workspaceId, projectId };
}

/** What every group of the suite gets. */
export interface ContractContext {
  /** The shared app (writes on), started once for the suite. */
  app(): AdapterHarness;
  /** Its store's key prefix. */
  prefix(): string;
  /** A URL of the shared app under the routes prefix. */
  url(path: string, harness?: AdapterHarness): string;
  /** A caller of the shared app as `scope` (no credentials when undefined). */
  as(scope: ContractScope | undefined, harness?: AdapterHarness): ApiClient;
  /** Opens an event stream of the shared app as `scope`; closed after the test. */
  sse(
    scope: ContractScope | undefined,
    headers?: Record<string, string>,
    harness?: AdapterHarness,
  ): Promise<SseClient>;
  /** A scope no other test uses. */
  scope(label?: string): ContractScope;
  /** A client of the suite's Redis, for what only Redis can tell (subscriptions). */
  redis(): Redis;
  /** Options of a fresh app; the suite deletes its prefix afterwards. */
  options(overrides?: Partial<AdapterHarnessOptions['routes']>): AdapterHarnessOptions;
  /** Starts a fresh app, closed after the test unless the test closed it. */
  start(options: AdapterHarnessOptions): Promise<AdapterHarness>;
}

/** Builds the context; the caller wires its hooks (see contract.ts). */
export function createContractContext(
  makeHarness: MakeAdapterHarness,
  state: {
    redisUrl(): string;
    redis(): Redis;
    shared(): { harness: AdapterHarness; prefix: string };
    track(prefix: string): void;
    onCleanup(cleanup: () => Promise<void> | void): void;
  },
): ContractContext {
  let scopes = 0;
  const context: ContractContext = {
    app: () => state.shared().harness,
    prefix: () => state.shared().prefix,
    url: (path, harness = context.app()) => `${harness.url}${ROUTES_PREFIX}${path}`,
    as: (scope, harness = context.app()) => new ApiClient(`${harness.url}${ROUTES_PREFIX}`, scope),
    async sse(scope, headers, harness) {
      const client = await SseClient.open(
        context.url('/runs/active/events', harness),
        scope,
        headers,
      );
      state.onCleanup(() => client.close());
      return client;
    },
    scope(label = 'w') {
      scopes++;
      return {
        workspaceId: `${label}${scopes}-${randomBytes(3).toString('hex')}`,
        projectId: 'p1',
      };
    },
    redis: () => state.redis(),
    options(overrides = {}) {
      const prefix = `test:contract:${randomBytes(5).toString('hex')}`;
      state.track(prefix);
      return {
        redisUrl: state.redisUrl(),
        prefix,
        commandTimeoutMs: 2_000,
        dataSchema: contractDataSchema,
        routes: {
          prefix: ROUTES_PREFIX,
          writes: true,
          sseHeartbeatMs: HEARTBEAT_MS,
          resolveScope: contractResolveScope,
          ...overrides,
        },
      };
    },
    async start(options) {
      const harness = await makeHarness(options);
      let closed = false;
      const close = harness.close;
      const tracked: AdapterHarness = {
        ...harness,
        close: async () => {
          if (closed) return;
          closed = true;
          await close.call(harness);
        },
      };
      state.onCleanup(() => tracked.close());
      return tracked;
    },
  };
  return context;
}

/** A run body for enqueue. */
export function runBody(id: string, extra: Record<string, unknown> = {}) {
  return { id, source: 'api', caption: 'queued', data: { model: 'm', tokens: 0 }, ...extra };
}

/** Waits `ms`. */
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` every 50 ms until it holds or `timeoutMs` passed; returns whether it held. */
export async function eventually(
  check: () => Promise<boolean>,
  timeoutMs = 3_000,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
}
