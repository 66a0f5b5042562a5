import type { ContractScope } from './harness.js';
import { SCOPE_HEADERS } from './harness.js';

/** An answer of the API. */
export interface ApiAnswer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: tests read whatever the body holds
  body: any;
  text: string;
  contentType: string | null;
}

/** The headers that make the suite's `resolveScope` return `scope`. */
export function scopeHeaders(scope: ContractScope | undefined): Record<string, string> {
  return scope
    ? { [SCOPE_HEADERS.workspace]: scope.workspaceId, [SCOPE_HEADERS.project]: scope.projectId }
    : {};
}

/** A caller of the API as one scope (or as nobody: no credentials). */
export class ApiClient {
  constructor(
    private readonly base: string,
    readonly scope: ContractScope | undefined,
  ) {}

  /** Any request; `body` is sent as JSON unless it is a string (sent raw, as JSON). */
  async request(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<ApiAnswer> {
    const response = await fetch(`${this.base}${path}`, {
      method,
      headers: {
        ...scopeHeaders(this.scope),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      ...(body === undefined
        ? {}
        : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return {
      status: response.status,
      body: parsed,
      text,
      contentType: response.headers.get('content-type'),
    };
  }

  get(path: string, headers?: Record<string, string>) {
    return this.request('GET', path, undefined, headers);
  }
  post(path: string, body?: unknown) {
    return this.request('POST', path, body);
  }
  patch(path: string, body?: unknown) {
    return this.request('PATCH', path, body);
  }
  delete(path: string) {
    return this.request('DELETE', path);
  }
}
