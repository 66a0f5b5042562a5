import { expect } from 'vitest';
import type { ActiveRunsErrorCode } from '../src/index.js';
import { ActiveRunsError, isActiveRunsError } from '../src/index.js';

/**
 * Runs `call` (sync throw or rejected promise) and checks what a user sees: an ActiveRunsError
 * (an Error named ActiveRunsError) with the given code and a message containing every `parts`.
 */
export async function expectFailure(
  call: () => unknown,
  code: ActiveRunsErrorCode,
  ...parts: (string | RegExp)[]
): Promise<ActiveRunsError> {
  let caught: unknown;
  let failed = false;
  try {
    await call();
  } catch (error) {
    failed = true;
    caught = error;
  }
  expect(failed, `expected the call to fail with ${code}`).toBe(true);
  expect(caught).toBeInstanceOf(ActiveRunsError);
  expect(caught).toBeInstanceOf(Error);
  const error = caught as ActiveRunsError;
  expect(error.name).toBe('ActiveRunsError');
  expect(error.code, error.message).toBe(code);
  expect(isActiveRunsError(error)).toBe(true);
  expect(isActiveRunsError(error, code)).toBe(true);
  expect(error.message.length).toBeGreaterThan(10);
  for (const part of parts) {
    if (typeof part === 'string') expect(error.message).toContain(part);
    else expect(error.message).toMatch(part);
  }
  return error;
}

/** The code of the ActiveRunsError a call fails with (fails the test if it succeeds). */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ActiveRunsError);
    return (error as ActiveRunsError).code;
  }
  throw new Error('expected the call to fail');
}
