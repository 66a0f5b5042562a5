import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  parseEnqueueInput,
  parseHeartbeatOptions,
  parseProgressInput,
  parseStartOptions,
} from '../src/input-fast-path.js';
import {
  enqueueInputSchema,
  heartbeatOptionsSchema,
  parseInput,
  progressInputSchema,
  startOptionsSchema,
} from '../src/schemas.js';

/** What a call with `input` gives: the parsed value, or the error's code, message and field. */
function outcome(parse: () => unknown) {
  try {
    return { ok: true, value: parse() };
  } catch (error) {
    const e = error as { code?: string; message?: string; details?: { field?: string } };
    return { ok: false, code: e.code, message: e.message, field: e.details?.field };
  }
}

/** zod's output without the keys it leaves undefined (the fast path keeps what it was given). */
function defined(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  return Object.fromEntries(
    Object.entries(value).flatMap(([k, v]) => (v === undefined ? [] : [[k, defined(v)]])),
  );
}

const value = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.boolean(),
  fc.integer({ min: -10, max: 2 ** 45 }),
  fc.constantFrom(0, 99, 100, 2_592_000_000, 2_592_000_001, 2 ** 44 - 1, 2 ** 44, 1.5, Number.NaN),
  fc.constantFrom('api', 'not a label', '', 'x'.repeat(70), 'web-1'),
  fc.constant({ startedAt: 5 }),
  fc.constant({ startedAt: -5 }),
  fc.constant({ leaseMs: 500 }),
  fc.constant([]),
);
const key = fc.constantFrom(
  'id',
  'queuedAt',
  'source',
  'caption',
  'data',
  'leaseMs',
  'start',
  'startedAt',
  'status',
);
const input = fc.oneof(
  fc.dictionary(key, value, { maxKeys: 5 }),
  fc.constant(undefined),
  fc.constant(null),
  fc.constant('text'),
);

const cases = [
  ['enqueue', parseEnqueueInput, enqueueInputSchema, 'input'],
  ['progress', parseProgressInput, progressInputSchema, 'input'],
  ['start', parseStartOptions, startOptionsSchema, 'options'],
  ['heartbeat', parseHeartbeatOptions, heartbeatOptionsSchema, 'options'],
] as const;

describe('write inputs without zod on the common shape', () => {
  for (const [name, fast, schema, what] of cases) {
    it(`${name}: the same value or the same error as the zod schema, for any input`, () => {
      fc.assert(
        fc.property(input, (raw) => {
          const ours = outcome(() => fast(raw));
          const zod = outcome(() => parseInput(schema, raw, what));
          if (ours.ok && zod.ok) expect(defined(ours.value)).toEqual(defined(zod.value));
          else expect(ours).toEqual(zod);
        }),
        { numRuns: 2_000 },
      );
    });
  }

  it('reads each property once, so a getter cannot pass the check and then change', () => {
    let reads = 0;
    const input = {
      get caption() {
        reads++;
        return reads === 1 ? 'ok' : 7;
      },
    };
    const parsed = parseProgressInput(input);
    expect(parsed.caption).toBe('ok');
    expect(parsed.caption).toBe('ok');
  });

  it('a getter that throws is the usual INVALID_ARGUMENT', () => {
    const input = {
      id: 'a',
      get source(): string {
        throw new Error('boom');
      },
    };
    expect(outcome(() => parseEnqueueInput(input))).toMatchObject({
      ok: false,
      code: 'INVALID_ARGUMENT',
      field: 'input',
    });
  });
});
