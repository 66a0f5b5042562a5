import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { ActiveRunsError, isActiveRunsError } from '../src/index.js';

// An app can load both builds of the package (an ESM import and a CJS require of a dependency):
// two copies of the class. isActiveRunsError must recognise an error of either copy.
const cjs = createRequire(import.meta.url)('../dist/index.cjs') as typeof import('../src/index.js');

describe('isActiveRunsError across builds', () => {
  it('the CJS build is a different copy of the class', () => {
    expect(cjs.ActiveRunsError).not.toBe(ActiveRunsError);
  });

  it('recognises an error made by the other build, with and without a code', () => {
    const fromCjs = new cjs.ActiveRunsError('NOT_FOUND', 'made by the CJS build');
    expect(isActiveRunsError(fromCjs)).toBe(true);
    expect(isActiveRunsError(fromCjs, 'NOT_FOUND')).toBe(true);
    expect(isActiveRunsError(fromCjs, 'CONFLICT')).toBe(false);
    const fromEsm = new ActiveRunsError('CONFLICT', 'made by this build');
    expect(cjs.isActiveRunsError(fromEsm)).toBe(true);
    expect(cjs.isActiveRunsError(fromEsm, 'CONFLICT')).toBe(true);
  });

  it('still rejects look-alikes: a plain error with a code, an object with the name', () => {
    const plain = Object.assign(new Error('x'), { name: 'ActiveRunsError', code: 'NOT_FOUND' });
    expect(isActiveRunsError(plain)).toBe(false);
    expect(isActiveRunsError({ name: 'ActiveRunsError', code: 'NOT_FOUND' })).toBe(false);
    expect(isActiveRunsError(null)).toBe(false);
  });
});
