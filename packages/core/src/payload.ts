/**
 * Checks of what the app stores with a run (`caption`, `data`) before any Redis call: refused
 * quickly, with a typed error, in whatever shape it comes (throwing getters, proxies, values JSON
 * would drop or change, cycles, deep nesting, payloads of any size).
 */
import { ActiveRunsError, readInput } from './errors.js';
import type { DataSchema } from './schemas.js';

/** Deepest nesting of objects and arrays accepted in `data`. */
export const MAX_DATA_DEPTH = 64;
/**
 * Data whose JSON is more than this many times `maxDataBytes` is refused without being
 * serialized (found by a walk that stops there); up to it, the exact size is measured. With a
 * `dataSchema`, twice that is checked before the schema parses the data (the schema may drop
 * fields, so the limit itself is checked on its output: this only spares parsing a payload that
 * cannot fit).
 */
const UNSERIALIZED_SLACK = 2;

/** Characters as a person counts them (code points, so an emoji is one). */
function countCharacters(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

function tooLong(length: number | string, limit: number): ActiveRunsError {
  return new ActiveRunsError(
    'PAYLOAD_TOO_LARGE',
    `caption has ${length} characters, more than maxCaptionLength (${limit}); shorten it.`,
    { details: { field: 'caption', limit } },
  );
}

/** The caption's JSON, or '' for none. */
export function captionJson(caption: string | null | undefined, limit: number): string {
  if (caption === undefined || caption === null) return '';
  // a code point is one or two UTF-16 units: past twice the limit, no need to count
  if (caption.length > limit * 2) throw tooLong(`more than ${limit * 2}`, limit);
  if (caption.length > limit) {
    const length = countCharacters(caption);
    if (length > limit) throw tooLong(length, limit);
  }
  return JSON.stringify(caption);
}

function invalid(path: string, what: string, cause?: unknown): ActiveRunsError {
  return new ActiveRunsError(
    'INVALID_ARGUMENT',
    `${path} is not JSON-serializable as it is: ${what}; pass plain JSON (objects, arrays, strings, finite numbers, booleans, null).`,
    { cause, details: { field: path } },
  );
}

function tooLarge(bytes: number, limit: number, exact: boolean): ActiveRunsError {
  return new ActiveRunsError(
    'PAYLOAD_TOO_LARGE',
    `data is ${exact ? '' : 'more than '}${bytes} bytes of JSON, more than maxDataBytes (${limit}); store large payloads elsewhere and keep a reference.`,
    { details: exact ? { field: 'data', limit, bytes } : { field: 'data', limit } },
  );
}

/** Objects that JSON turns into `{}` (or loses), refused in `data`. */
const LOSSY: [new (...args: never[]) => object, string][] = [
  [Map, 'a Map'],
  [Set, 'a Set'],
  [WeakMap, 'a WeakMap'],
  [WeakSet, 'a WeakSet'],
  [Promise, 'a Promise'],
  [RegExp, 'a RegExp'],
];

/**
 * Walks `value` as JSON.stringify would, keeping a lower bound of its JSON size, and stops as soon
 * as that bound passes `limit` (so nothing over the limit is serialized, whatever its size).
 * `strict`: refuse what JSON would drop or change (functions, symbols, BigInt, non-finite numbers,
 * `undefined` in arrays, Maps and Sets...), cycles, and nesting deeper than MAX_DATA_DEPTH.
 * On the hot path (small plain data) it allocates nothing but its two stacks: the offending path
 * is only spelled out when something is refused.
 */
class JsonWalk {
  bytes = 0;
  /** Objects and keys from the root to the value being walked. */
  private readonly objects: object[] = [];
  private readonly keys: (string | number)[] = [];

  constructor(
    private readonly limit: number,
    private readonly strict: boolean,
    private readonly onTooLarge: () => ActiveRunsError,
  ) {}

  private add(bytes: number): void {
    this.bytes += bytes;
    if (this.bytes > this.limit) throw this.onTooLarge();
  }

  /** The path of the value being walked, e.g. `data.tags[1]`. */
  private path(): string {
    let path = 'data';
    for (const key of this.keys) path += typeof key === 'number' ? `[${key}]` : `.${key}`;
    return path;
  }

  private refuse(what: string): never {
    throw invalid(this.path(), what);
  }

  /** Returns false for a value JSON omits from an object (undefined, a function, a symbol). */
  walk(input: unknown): boolean {
    let value = input;
    if (typeof value === 'object' && value !== null) {
      const toJSON = (value as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === 'function') {
        const key = this.keys[this.keys.length - 1];
        value = toJSON.call(value, key === undefined ? '' : String(key));
      }
    }
    switch (typeof value) {
      case 'string':
        this.add(value.length + 2);
        return true;
      case 'number':
        if (this.strict && !Number.isFinite(value)) {
          this.refuse(`it is ${value}, which JSON turns into null`);
        }
        this.add(1);
        return true;
      case 'boolean':
        this.add(4);
        return true;
      case 'undefined':
        return false;
      case 'bigint':
        if (this.strict) this.refuse('it is a BigInt (pass it as a string)');
        this.add(1);
        return true;
      case 'function':
      case 'symbol':
        if (this.strict) this.refuse(`it is a ${typeof value}, which JSON silently drops`);
        return false;
    }
    if (value === null) {
      this.add(4);
      return true;
    }
    const object = value as object;
    if (this.objects.length >= MAX_DATA_DEPTH || this.objects.includes(object)) {
      if (!this.strict) return true; // the strict walk, after the schema, says what is wrong
      if (this.objects.includes(object)) this.refuse('it is circular (it contains itself)');
      this.refuse(`it is nested deeper than ${MAX_DATA_DEPTH} levels`);
    }
    const isArray = Array.isArray(object);
    if (this.strict && !isArray) {
      const proto = Object.getPrototypeOf(object);
      if (proto !== Object.prototype && proto !== null) {
        for (const [type, name] of LOSSY) {
          if (object instanceof type) this.refuse(`it is ${name}, which JSON turns into {}`);
        }
      }
    }
    this.objects.push(object);
    this.add(2);
    if (isArray) {
      const array = object as unknown[];
      for (let i = 0; i < array.length; i++) {
        this.keys.push(i);
        if (!this.walk(array[i])) {
          if (this.strict) {
            this.refuse(`it is ${describe(array[i])}, which JSON turns into null in an array`);
          }
          this.add(4);
        }
        this.keys.pop();
        this.add(1);
      }
    } else {
      const record = object as Record<string, unknown>;
      for (const name of Object.keys(record)) {
        this.keys.push(name);
        if (this.walk(record[name])) this.add(name.length + 4);
        this.keys.pop();
      }
    }
    this.objects.pop();
    return true;
  }
}

function describe(value: unknown): string {
  return value === undefined ? 'undefined' : `a ${typeof value}`;
}

/** Options of {@link dataJson}. */
export interface DataLimits<TData> {
  schema: DataSchema<TData> | undefined;
  maxBytes: number;
}

/** Validates `data` and returns its JSON ('' for none); see the module doc. */
export function dataJson<TData>(data: unknown, { schema, maxBytes }: DataLimits<TData>): string {
  if (data === undefined || data === null) return '';
  return readInput('data', () => {
    let value: unknown = data;
    const cap = maxBytes * UNSERIALIZED_SLACK;
    if (schema) {
      const raw = new JsonWalk(cap * 2, false, () => tooLarge(cap * 2, maxBytes, false));
      raw.walk(data);
      value = parsed(schema, data);
    }
    const walk = new JsonWalk(cap, true, () => tooLarge(cap, maxBytes, false));
    if (!walk.walk(value)) throw invalid('data', `it is ${describe(value)}`);
    let json: string;
    try {
      json = JSON.stringify(value);
    } catch (error) {
      throw invalid('data', String(error), error);
    }
    const bytes = Buffer.byteLength(json);
    if (bytes > maxBytes) throw tooLarge(bytes, maxBytes, true);
    return json;
  });
}

function parsed<TData>(schema: DataSchema<TData>, data: unknown): TData {
  const result = schema.safeParse(data);
  if (result.success) return result.data;
  const issue = result.error.issues[0] as { path?: PropertyKey[]; message?: string } | undefined;
  const path = issue?.path?.length ? `data.${issue.path.map(String).join('.')}` : 'data';
  throw new ActiveRunsError(
    'INVALID_ARGUMENT',
    `${path}: ${issue?.message ?? 'does not match dataSchema'}.`,
    {
      cause: result.error,
      details: { field: path, issues: result.error.issues },
    },
  );
}
