/**
 * Runs decoded for a page (and for the sweeper's reports) without parsing `data` until someone
 * reads it. A page of 25 runs of ~800 B spends most of its client time and garbage in
 * `JSON.parse` of payloads that a dashboard's table, a count or a sweeper without a hook never
 * looks at (BENCHMARKS.md, "Where the time goes"); here `data` is an own, enumerable accessor
 * that parses the stored JSON on first read and keeps the result, so a run still behaves as a
 * plain object: `JSON.stringify`, spreading, `structuredClone`, `toEqual` and assignment all see
 * `data` as before, and `console.log` prints it (a custom inspect on the shared prototype).
 *
 * The accessor functions and the hidden slot are the same for every run, so V8 gives all runs
 * one hidden class (fast properties); an object literal with `get data()` would make a new
 * closure pair and a new map per run, costing more than the parse it saves.
 */
import { inspect } from 'node:util';
import type { ActiveRun } from './codec.js';

/** Holds the stored JSON text of `data` (a string) until the first read, then `{ value }`. */
const DATA = Symbol('active-runs.data');

type Slot = string | { value: unknown };
type LazyRun = ActiveRun<unknown> & { [DATA]: Slot };

const HIDDEN: PropertyDescriptor = {
  value: '',
  writable: true,
  enumerable: false,
  configurable: true,
};

const DATA_ACCESSOR: PropertyDescriptor = {
  enumerable: true,
  configurable: true,
  get(this: LazyRun): unknown {
    const slot = this[DATA];
    if (typeof slot !== 'string') return slot.value;
    const value: unknown = slot === '' ? null : JSON.parse(slot);
    // a frozen run cannot keep the result: it parses again on the next read
    if (!Object.isFrozen(this)) this[DATA] = { value };
    return value;
  },
  set(this: LazyRun, value: unknown): void {
    this[DATA] = { value };
  },
};

/**
 * The prototype of lazily decoded runs: `Object.prototype` plus a non-enumerable inspect hook,
 * so `console.log(run)` shows the parsed `data` instead of `[Getter/Setter]`. It names `Object`
 * as its constructor, so deep-equality helpers and `isPlainObject` checks treat runs as plain.
 */
const RUN_PROTOTYPE: object = Object.create(Object.prototype, {
  constructor: { value: Object, writable: true, enumerable: false, configurable: true },
  [inspect.custom]: {
    enumerable: false,
    // the same output as a plain object's: a copy at the same depth, `data` read
    value(this: ActiveRun<unknown>, depth: number, options: object) {
      return inspect({ ...this }, { ...options, depth });
    },
  },
});

/**
 * The stored JSON text of a lazily decoded run's `data` (`null` for none) while nobody has read
 * or set it, else undefined (not such a run, or `data` read, set or changed since): lets a page be
 * sent as JSON by pasting this text in, without parsing it and serializing it again (page-json.ts).
 */
export function unreadDataJson(run: object): string | undefined {
  if (Object.getPrototypeOf(run) !== RUN_PROTOTYPE) return undefined;
  const slot = (run as LazyRun)[DATA];
  if (typeof slot !== 'string') return undefined;
  return slot === '' ? 'null' : slot;
}

/** A caption's JSON string: without escapes its text is what lies between the quotes. */
function captionOf(json: string): string {
  return json.includes('\\') ? (JSON.parse(json) as string) : json.slice(1, -1);
}

/**
 * Decodes a run from its id and stored value (see `encodeRunValue` in codec.ts) like `decodeRun`,
 * but parses `data` on first read.
 */
export function decodeRunLazily<TData>(id: string, value: string): ActiveRun<TData> {
  const a = value.indexOf('\n');
  const b = value.indexOf('\n', a + 1);
  const c = value.indexOf('\n', b + 1);
  const d = value.indexOf('\n', c + 1);
  const e = value.indexOf('\n', d + 1);
  const startedAt = value.slice(a + 1, b);
  const source = value.slice(c + 1, d);
  const caption = value.slice(d + 1, e);
  // a fingerprint, when present, is the last 18 characters: '\n#' and 16 hex digits
  const end = value.length;
  const fingerprinted =
    end - e >= 19 && value.charCodeAt(end - 18) === 10 && value.charCodeAt(end - 17) === 35;
  const run = Object.create(RUN_PROTOTYPE) as LazyRun;
  // the same property order as decodeRun, so both serialize alike
  run.id = id;
  run.status = startedAt === '' ? 'queued' : 'running';
  run.queuedAt = Number(value.slice(0, a));
  run.startedAt = startedAt === '' ? null : Number(startedAt);
  run.source = source === '' ? null : source;
  run.caption = caption === '' ? null : captionOf(caption);
  Object.defineProperty(run, DATA, HIDDEN);
  run[DATA] = value.slice(e + 1, fingerprinted ? end - 18 : end);
  Object.defineProperty(run, 'data', DATA_ACCESSOR);
  run.leaseExpiresAt = Number(value.slice(b + 1, c));
  return run as ActiveRun<TData>;
}
