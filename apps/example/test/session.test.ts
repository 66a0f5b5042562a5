import { describe, expect, it } from 'vitest';
import {
  createDemoSessions,
  PROJECT_COOKIE,
  SESSION_COOKIE,
  SessionError,
} from '../src/session.js';
import { cookieJar } from './cookies.js';

const SECRET = 'a-secret-of-the-demo-1234';

const cookieHeader = cookieJar;

function signedIn(workspaceId = 'acme', now = () => 1_000_000) {
  const sessions = createDemoSessions({ secret: SECRET, now });
  const { cookies } = sessions.login({ workspaceId });
  return { sessions, headers: { cookie: cookieHeader(cookies) } };
}

function failure(run: () => unknown): SessionError {
  try {
    run();
  } catch (error) {
    if (error instanceof SessionError) return error;
    throw error;
  }
  throw new Error('expected a SessionError');
}

describe('the demo login', () => {
  it('signs in as a workspace, on its first project; resolveScope reads it back', () => {
    const { sessions, headers } = signedIn('globex');
    expect(sessions.resolveScope({ headers })).toEqual({
      workspaceId: 'globex',
      projectId: 'chat',
    });
    expect(sessions.current({ headers }).body.session).toEqual({
      workspaceId: 'globex',
      projectId: 'chat',
    });
  });

  it('sets HttpOnly, SameSite=Lax cookies', () => {
    const { cookies } = createDemoSessions({ secret: SECRET }).login({ workspaceId: 'acme' });
    expect(cookies).toHaveLength(2);
    for (const cookie of cookies) expect(cookie).toMatch(/HttpOnly; SameSite=Lax/);
  });

  it('refuses a caller who is not signed in, or whose cookie was edited or signed elsewhere', () => {
    const { sessions, headers } = signedIn('acme');
    expect(failure(() => sessions.resolveScope({ headers: {} })).status).toBe(401);
    const token = headers.cookie.match(new RegExp(`${SESSION_COOKIE}=([^;]+)`))![1]!;
    const forged = token.replace(/^acme\./, 'globex.');
    const edited = failure(() =>
      sessions.resolveScope({ headers: { cookie: `${SESSION_COOKIE}=${forged}` } }),
    );
    expect(edited.status).toBe(401);
    expect(edited.body).toEqual({
      error: { code: 'UNAUTHENTICATED', message: 'the session is not valid: sign in again' },
    });
    const elsewhere = createDemoSessions({ secret: 'another-secret-0123456789' });
    expect(failure(() => elsewhere.resolveScope({ headers })).status).toBe(401);
  });

  it('expires a session after 12 hours', () => {
    let now = 1_000_000;
    const { sessions, headers } = signedIn('acme', () => now);
    now += 11 * 3_600_000;
    expect(sessions.resolveScope({ headers }).workspaceId).toBe('acme');
    now += 2 * 3_600_000;
    expect(failure(() => sessions.resolveScope({ headers })).message).toMatch(/expired/);
  });

  it('lets the visitor choose any project, always within the signed workspace', () => {
    const { sessions, headers } = signedIn('acme');
    const { cookies } = sessions.chooseProject({ headers }, { projectId: 'bulk' });
    const withProject = { cookie: cookieHeader(cookies, headers.cookie) };
    expect(sessions.resolveScope({ headers: withProject })).toEqual({
      workspaceId: 'acme',
      projectId: 'bulk',
    });
    // a hand-set project cookie selects a project of the same workspace, never another's
    const handSet = { cookie: cookieHeader([`${PROJECT_COOKIE}=chat`], headers.cookie) };
    expect(sessions.resolveScope({ headers: handSet })).toEqual({
      workspaceId: 'acme',
      projectId: 'chat',
    });
    const bad = { cookie: cookieHeader([`${PROJECT_COOKIE}=a%3Ab`], headers.cookie) };
    expect(failure(() => sessions.resolveScope({ headers: bad })).status).toBe(400);
  });

  it('checks its input: unknown workspace, bad project id, unknown field, not signed in', () => {
    const { sessions, headers } = signedIn('acme');
    const unknown = failure(() => sessions.login({ workspaceId: 'umbrella' }));
    expect(unknown.body.error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'workspaceId' });
    expect(failure(() => sessions.login({ workspaceId: 'acme', admin: true })).field).toBe('admin');
    expect(failure(() => sessions.login(undefined)).field).toBe('workspaceId');
    const project = failure(() => sessions.chooseProject({ headers }, { projectId: 'a:b' }));
    expect(project.body.error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'projectId' });
    expect(failure(() => sessions.chooseProject({ headers: {} }, { projectId: 'x' })).status).toBe(
      401,
    );
  });

  it('signs out by clearing both cookies', () => {
    const { cookies } = createDemoSessions({ secret: SECRET }).logout();
    expect(cookies.map((cookie) => cookie.split('=')[0])).toEqual([SESSION_COOKIE, PROJECT_COOKIE]);
    for (const cookie of cookies) expect(cookie).toMatch(/Max-Age=0/);
  });

  it('needs a secret of 16 characters or more', () => {
    expect(() => createDemoSessions({ secret: 'short' })).toThrow(/at least 16/);
  });
});
