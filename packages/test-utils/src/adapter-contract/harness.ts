import type { z } from 'zod';

/** A scope as the suite's `resolveScope` returns it. */
export interface ContractScope {
  workspaceId: string;
  projectId: string;
}

/** What the suite reads from a framework's request. */
export interface ContractRequest {
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

/**
 * The store operations the suite calls directly (the adapter's own store, `app.activeRuns` or
 * the injected one), typed by shape so test-utils needs no dependency on core.
 */
export interface ContractStore {
  enqueue(
    scope: ContractScope,
    input: { id: string; source?: string; caption?: string; data?: unknown; leaseMs?: number },
  ): Promise<unknown>;
  list(
    scope: ContractScope,
    options?: { limit?: number; cursor?: string },
  ): Promise<{ nextCursor: string | null }>;
  sweep(): Promise<unknown>;
}

/**
 * The error the suite's `resolveScope` throws for a caller without access. A harness turns it
 * into its framework's own HTTP error (Fastify answers any error with a `statusCode`; Nest
 * needs an `HttpException`), which the adapter must pass through unchanged.
 */
export class ContractHttpError extends Error {
  constructor(
    readonly statusCode: 401 | 403,
    message: string,
  ) {
    super(message);
    this.name = 'ContractHttpError';
  }
}

/** Headers the suite's `resolveScope` reads the caller's scope from. */
export const SCOPE_HEADERS = { workspace: 'x-workspace', project: 'x-project' } as const;

/** Workspace id for which the suite's `resolveScope` answers 403. */
export const FORBIDDEN_WORKSPACE = 'forbidden';

/** The app the suite asks a harness to start. */
export interface AdapterHarnessOptions {
  redisUrl: string;
  /** The store's key prefix (unique per harness; the suite deletes its keys). */
  prefix: string;
  /** The store's `commandTimeoutMs` (short, so the Redis-down test answers quickly). */
  commandTimeoutMs: number;
  dataSchema: z.ZodType;
  routes: {
    prefix: string;
    writes: boolean;
    sseHeartbeatMs: number;
    /** `undefined` in the start-up test: the adapter must refuse to start. */
    resolveScope: ((request: ContractRequest) => Promise<ContractScope>) | undefined;
  };
}

/** A started app with the adapter, listening on a loopback port. */
export interface AdapterHarness {
  /** Base URL of the server, e.g. `http://127.0.0.1:40123` (the routes prefix is added by the suite). */
  url: string;
  store: ContractStore;
  /** Closes the app the way users do (`app.close()`). */
  close(): Promise<void>;
}

/** Starts the app; rejects when the adapter refuses its options. */
export type MakeAdapterHarness = (options: AdapterHarnessOptions) => Promise<AdapterHarness>;
