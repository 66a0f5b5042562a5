/**
 * `store.list`: one page in one read-only script call (scripts/list.ts), decoded lazily.
 *
 * A page is the hot read path, so the client does as little as it can: plain options are checked
 * by hand (zod, with its messages, only sees options that fail these checks), the cursor's HMAC
 * key is prepared once per secret, and each run's `data` is parsed only when read
 * (lazy-run.ts). See BENCHMARKS.md, "Reading a page".
 */
import type { RedisCaller } from './call/caller.js';
import type { ActiveRun } from './codec.js';
import { LIST_LAPSED_SCAN_BUDGET, MAX_OFFSET, MAX_PAGE_SIZE } from './constants.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { ActiveRunsError } from './errors.js';
import type { ScopeKeys } from './keys.js';
import { writeKeys } from './keys.js';
import { decodeRunLazily } from './lazy-run.js';
import { listOptionsSchema, parseInput, SOURCE_PATTERN } from './schemas.js';
import { SCRIPTS } from './scripts/index.js';
import type { ListOptions, ListPage } from './store-types.js';

type Reply = (string | number)[];

/** List options once checked: the fields `listOptionsSchema` outputs. */
type ParsedListOptions = Pick<ListOptions, 'limit' | 'cursor' | 'page' | 'pageSize' | 'source'> & {
  status?: 'queued' | 'running' | null;
};

const isPageSize = (v: unknown) =>
  v === undefined || (Number.isInteger(v) && (v as number) >= 1 && (v as number) <= MAX_PAGE_SIZE);

/**
 * The options when every field is plainly valid (what `listOptionsSchema` accepts), else
 * undefined: the caller then lets zod parse them, for its error message (also for a proxy or a
 * getter that throws).
 */
function plainOptions(options: unknown): ParsedListOptions | undefined {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null) return undefined;
  try {
    return checkedOptions(options);
  } catch {
    return undefined;
  }
}

function checkedOptions(options: object): ParsedListOptions | undefined {
  if (Object.getPrototypeOf(options) !== Object.prototype) return undefined;
  // each field read once, into a copy: a getter cannot answer the check and the use differently
  const out: Record<string, unknown> = {};
  for (const key in options) {
    const v = (options as Record<string, unknown>)[key];
    switch (key) {
      case 'limit':
      case 'pageSize':
        if (!isPageSize(v)) return undefined;
        break;
      case 'page':
        if (v !== undefined && !(Number.isInteger(v) && (v as number) >= 1)) return undefined;
        break;
      case 'cursor':
        if (v != null && typeof v !== 'string') return undefined;
        break;
      case 'status':
        if (v != null && v !== 'queued' && v !== 'running') return undefined;
        break;
      case 'source':
        if (v != null && !(typeof v === 'string' && SOURCE_PATTERN.test(v))) return undefined;
        break;
      default:
        return undefined;
    }
    out[key] = v;
  }
  return out as ParsedListOptions;
}

function invalid(message: string, field: string): ActiveRunsError {
  return new ActiveRunsError('INVALID_ARGUMENT', message, { details: { field } });
}

/** One page of a scope's runs (see `ActiveRunStore.list`). */
export async function listRuns<TData>(
  caller: RedisCaller,
  keys: ScopeKeys,
  options: ListOptions | undefined,
  cursorSecret: string,
): Promise<ListPage<TData>> {
  const parsed: ParsedListOptions =
    plainOptions(options) ?? parseInput(listOptionsSchema, options, 'options');
  if (parsed.page !== undefined && parsed.cursor) {
    throw invalid(
      'options: pass either cursor (cursor paging) or page (offset paging), not both.',
      'options.cursor',
    );
  }
  if (
    parsed.limit !== undefined &&
    parsed.pageSize !== undefined &&
    parsed.limit !== parsed.pageSize
  ) {
    throw invalid('options: limit and pageSize disagree; pass one of them.', 'options.pageSize');
  }
  const limit = parsed.limit ?? parsed.pageSize ?? 25;
  let offset = 0;
  if (parsed.page !== undefined) {
    offset = (parsed.page - 1) * limit;
    if (offset + limit > MAX_OFFSET) {
      throw invalid(
        `options.page: offset paging reaches ${MAX_OFFSET} rows deep; follow nextCursor for deeper pages.`,
        'options.page',
      );
    }
  }
  const status = parsed.status ?? 'all';
  const source = parsed.source ?? '';
  const binding = `${keys.tag}|${status}|${source}`;
  const cursor = parsed.cursor ? decodeCursor(parsed.cursor, binding, cursorSecret) : null;
  const reply = (await caller.script(SCRIPTS.list, 'list', false, writeKeys(keys), [
    keys.tag,
    status,
    source,
    limit,
    offset,
    cursor ? cursor.score : '',
    cursor ? cursor.id : '',
    LIST_LAPSED_SCAN_BUDGET,
  ])) as Reply;
  const items: ActiveRun<TData>[] = [];
  for (let i = 4; i < reply.length; i += 2) {
    items.push(decodeRunLazily<TData>(reply[i] as string, reply[i + 1] as string));
  }
  const nextScore = reply[1] as string;
  return {
    items,
    total: Number(reply[0]),
    nextCursor:
      nextScore === ''
        ? null
        : encodeCursor(
            { score: Number(nextScore) - Number(reply[3] ?? 0), id: reply[2] as string },
            binding,
            cursorSecret,
          ),
  };
}
