/**
 * The demo login: signing in as a workspace sets an HMAC-signed session cookie, and the
 * adapters' `resolveScope` reads the caller's scope from it and from nothing else. The project
 * is the visitor's free choice within the signed workspace (a plain cookie), so an edited
 * project cookie can only select another project of the same workspace.
 * @module
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Scope } from '@active-runs/core';
import { parse, serialize } from 'cookie';
import { z } from 'zod';
import { DEMO_WORKSPACES, type DemoWorkspace, findWorkspace } from './tenants.js';

/** Name of the signed cookie that holds the workspace. */
export const SESSION_COOKIE = 'ar_session';
/** Name of the plain cookie that holds the chosen project. */
export const PROJECT_COOKIE = 'ar_project';

const SESSION_MAX_AGE_MS = 12 * 60 * 60 * 1000;
/** How far in the future an issue time may be (clock steps between the two servers). */
const CLOCK_SKEW_MS = 60_000;
const PROJECT_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** The error body of the HTTP API, which the session routes answer with too. */
export interface ErrorBody {
  error: { code: string; message: string; field?: string };
}

/** A request the session cannot serve: no or a bad session (401), bad input (400). */
export class SessionError extends Error {
  constructor(
    readonly status: 400 | 401,
    readonly code: 'UNAUTHENTICATED' | 'INVALID_ARGUMENT',
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'SessionError';
  }

  /** The answer's body, in the HTTP API's error shape. */
  get body(): ErrorBody {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.field ? { field: this.field } : {}),
      },
    };
  }
}

/** Who the caller is, as the dashboard shows it. */
export interface SessionInfo {
  workspaceId: string;
  projectId: string;
}

/** What the session routes answer: a body and the cookies to set. */
export interface SessionAnswer {
  body: { session: SessionInfo | null; workspaces: readonly DemoWorkspace[] };
  cookies: string[];
}

/** A request as both frameworks hand it over. */
export interface CookieRequest {
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

/** Options of {@link createDemoSessions}. */
export interface DemoSessionsOptions {
  /** Signs the session cookies: every server of one demo must share it. At least 16 characters. */
  secret: string;
  /** @default Date.now */
  now?: () => number;
}

/** The demo login of one app; see the module's comment. */
export interface DemoSessions {
  /** The caller's scope, for the adapters' `resolveScope`. @throws SessionError */
  resolveScope(request: CookieRequest): Scope;
  /** `GET /auth/session`: who is signed in (or `null`), and the workspaces one may sign in as. */
  current(request: CookieRequest): SessionAnswer;
  /** `POST /auth/login` with `{ workspaceId }`: signs in as that workspace, on its first project. */
  login(body: unknown): SessionAnswer;
  /** `POST /auth/project` with `{ projectId }`: another project of the signed-in workspace. */
  chooseProject(request: CookieRequest, body: unknown): SessionAnswer;
  /** `POST /auth/logout`: clears both cookies. */
  logout(): SessionAnswer;
}

const loginBody = z.strictObject({ workspaceId: z.string() });
const projectBody = z.strictObject({
  projectId: z.string().regex(PROJECT_ID, 'must be 1-64 letters, digits, ".", "_" or "-"'),
});

function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field =
    issue?.code === 'unrecognized_keys' ? String(issue.keys[0]) : (issue?.path.join('.') ?? '');
  throw new SessionError(400, 'INVALID_ARGUMENT', `${field}: ${issue?.message}`, field);
}

function header(request: CookieRequest): string {
  const value = request.headers.cookie;
  return Array.isArray(value) ? value.join('; ') : (value ?? '');
}

const COOKIE_OPTIONS = { httpOnly: true, sameSite: 'lax', path: '/' } as const;

/** Creates the demo login of an app (both servers of the demo use the same secret). */
export function createDemoSessions(options: DemoSessionsOptions): DemoSessions {
  const { secret } = options;
  const now = options.now ?? Date.now;
  if (secret.length < 16) throw new Error('the session secret must have at least 16 characters');

  const sign = (payload: string) =>
    createHmac('sha256', secret).update(payload).digest('base64url');

  /** The signed-in workspace, or why there is none. */
  function verify(token: string | undefined): DemoWorkspace {
    if (!token) throw new SessionError(401, 'UNAUTHENTICATED', 'sign in first (POST /auth/login)');
    const [workspaceId = '', issuedAt = '', signature = ''] = token.split('.');
    const expected = Buffer.from(sign(`${workspaceId}.${issuedAt}`));
    const given = Buffer.from(signature);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new SessionError(401, 'UNAUTHENTICATED', 'the session is not valid: sign in again');
    }
    const age = now() - Number(issuedAt);
    if (!(age > -CLOCK_SKEW_MS && age < SESSION_MAX_AGE_MS)) {
      throw new SessionError(401, 'UNAUTHENTICATED', 'the session expired: sign in again');
    }
    const workspace = findWorkspace(workspaceId);
    if (!workspace) throw new SessionError(401, 'UNAUTHENTICATED', 'unknown workspace: sign in');
    return workspace;
  }

  function read(request: CookieRequest): SessionInfo {
    const cookies = parse(header(request));
    const workspace = verify(cookies[SESSION_COOKIE]);
    // a project that was never chosen is the workspace's first
    const projectId = cookies[PROJECT_COOKIE] ?? workspace.projects[0]!.id;
    if (!PROJECT_ID.test(projectId)) {
      throw new SessionError(
        400,
        'INVALID_ARGUMENT',
        'the project cookie is not a project id',
        PROJECT_COOKIE,
      );
    }
    return { workspaceId: workspace.id, projectId };
  }

  const answer = (session: SessionInfo | null, cookies: string[] = []): SessionAnswer => ({
    body: { session, workspaces: DEMO_WORKSPACES },
    cookies,
  });
  const projectCookie = (projectId: string) =>
    serialize(PROJECT_COOKIE, projectId, { ...COOKIE_OPTIONS, maxAge: SESSION_MAX_AGE_MS / 1000 });

  return {
    resolveScope: read,

    current(request) {
      try {
        return answer(read(request));
      } catch (error) {
        if (error instanceof SessionError) return answer(null);
        throw error;
      }
    },

    login(body) {
      const { workspaceId } = parseBody(loginBody, body);
      const workspace = findWorkspace(workspaceId);
      if (!workspace) {
        const known = DEMO_WORKSPACES.map((w) => w.id).join(', ');
        throw new SessionError(
          400,
          'INVALID_ARGUMENT',
          `workspaceId: no demo workspace "${workspaceId}" (one of ${known})`,
          'workspaceId',
        );
      }
      const issuedAt = String(now());
      const token = `${workspace.id}.${issuedAt}.${sign(`${workspace.id}.${issuedAt}`)}`;
      const projectId = workspace.projects[0]!.id;
      return answer({ workspaceId: workspace.id, projectId }, [
        serialize(SESSION_COOKIE, token, { ...COOKIE_OPTIONS, maxAge: SESSION_MAX_AGE_MS / 1000 }),
        projectCookie(projectId),
      ]);
    },

    chooseProject(request, body) {
      // the session first: a caller who is not signed in learns nothing about the input
      const workspace = verify(parse(header(request))[SESSION_COOKIE]);
      const { projectId } = parseBody(projectBody, body);
      return answer({ workspaceId: workspace.id, projectId }, [projectCookie(projectId)]);
    },

    logout() {
      return answer(null, [
        serialize(SESSION_COOKIE, '', { ...COOKIE_OPTIONS, maxAge: 0 }),
        serialize(PROJECT_COOKIE, '', { ...COOKIE_OPTIONS, maxAge: 0 }),
      ]);
    },
  };
}
