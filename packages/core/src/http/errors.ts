/**
 * How the HTTP API reports errors: `{ error: { code, message, field? } }` with the status of
 * `HTTP_STATUS_BY_CODE`, the same from every adapter; never a stack trace.
 * @module
 */
import type { ActiveRunsErrorCode } from '../errors.js';
import { ActiveRunsError, HTTP_STATUS_BY_CODE } from '../errors.js';
import type { HttpErrorBody } from './schemas.js';

/** What a route answers: a status and a JSON body. */
export interface ActiveRunsHttpResult {
  status: number;
  body: unknown;
  /**
   * `body` already as JSON text, when the handler built it (a list page, written from each
   * run's stored JSON without parsing `data`): the adapter sends it as `application/json`
   * instead of serializing `body`.
   */
  json?: string;
}

/** The error body of the HTTP API. */
export function httpErrorBody(
  code: ActiveRunsErrorCode,
  message: string,
  field?: string,
): HttpErrorBody {
  return { error: field === undefined ? { code, message } : { code, message, field } };
}

/**
 * The field as the HTTP caller named it: `limit` rather than the store's `options.limit`, and
 * `runId` for the id a route took from its path.
 */
function httpField(field: unknown, idFromPath: boolean): string | undefined {
  if (typeof field !== 'string' || field === '') return undefined;
  const name = field.replace(/^(options|input|query|params|body)\./, '');
  return idFromPath && name === 'id' ? 'runId' : name;
}

/**
 * Maps an {@link ActiveRunsError} to its HTTP answer. `idFromPath`: the route took the run id
 * from its path, so a bad id is reported as `runId`.
 */
export function httpErrorResult(error: ActiveRunsError, idFromPath = false): ActiveRunsHttpResult {
  const field = httpField(error.details?.field, idFromPath);
  return {
    status: HTTP_STATUS_BY_CODE[error.code] ?? 500,
    body: httpErrorBody(error.code, error.message, field),
  };
}

/**
 * An error of the app's `resolveScope` result (not of the caller's input): a 500 that says what
 * to fix, rather than a 400 that blames the caller.
 */
export function invalidScopeError(cause: ActiveRunsError): ActiveRunsError {
  return new ActiveRunsError(
    'INTERNAL',
    `routes.resolveScope returned an invalid scope (${cause.message}) Return { workspaceId, projectId } from the caller's own credentials.`,
    { cause },
  );
}
