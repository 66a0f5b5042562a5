import { createHash } from 'node:crypto';
import { LAYOUT_VERSION } from '../constants.js';
import { COUNTS } from './counts.js';
import { END } from './end.js';
import { ENQUEUE } from './enqueue.js';
import { GET } from './get.js';
import { IMPORT } from './import.js';
import { LIST } from './list.js';
import { ACQUIRE_LOCK, RELEASE_LOCK, RENEW_LOCK } from './lock.js';
import { PRELUDE, READ_PRELUDE, WRITE_PRELUDE } from './prelude.js';
import { PROGRESS } from './progress.js';
import { SETTLE, SETTLE_HELPERS } from './settle.js';
import { START } from './start.js';
import { SWEEP } from './sweep.js';

/** A Lua script and how it is registered on a client. */
export interface ScriptDefinition {
  /** Command name on the client: versioned and content-addressed, so two library versions can share a client. */
  readonly command: string;
  readonly numberOfKeys: number;
  /** Declared `no-writes` (EVAL_RO-safe) and flagged read-only, so ioredis `scaleReads` may route it to a replica. */
  readonly readOnly: boolean;
  /**
   * Declared `allow-oom`: it frees memory (or adds a few bytes at most), so Redis runs it even
   * over `maxmemory`, where it refuses every other write script.
   */
  readonly allowOom: boolean;
  readonly lua: string;
}

interface DefineOptions {
  readOnly?: boolean;
  allowOom?: boolean;
  /** Lua helpers prepended after the shared PRELUDE. @default the read or write prelude */
  preludes?: string[];
}

function define(
  name: string,
  body: string,
  numberOfKeys: number,
  { readOnly = false, allowOom = false, preludes }: DefineOptions = {},
): ScriptDefinition {
  // `#!lua` makes Redis 7 enforce declared keys and flags; `no-writes` allows EVAL_RO and replicas.
  const flags = [readOnly ? 'no-writes' : '', allowOom ? 'allow-oom' : ''].filter(Boolean);
  const shebang = flags.length > 0 ? `#!lua flags=${flags.join(',')}` : '#!lua';
  const helpers = preludes ?? [PRELUDE, readOnly ? READ_PRELUDE : WRITE_PRELUDE];
  const lua = `${shebang}\n${helpers.join('')}${body}`;
  const digest = createHash('sha1').update(lua).digest('hex').slice(0, 8);
  return {
    command: `activeRuns_v${LAYOUT_VERSION}_${name}_${digest}`,
    numberOfKeys,
    readOnly,
    allowOom,
    lua,
  };
}

const FREES_MEMORY = { allowOom: true } as const;

/** Every script of the store, by operation. */
export const SCRIPTS = {
  enqueue: define('enqueue', ENQUEUE, 8),
  start: define('start', START, 6),
  progress: define('progress', PROGRESS, 6),
  end: define('end', END, 7, FREES_MEMORY),
  get: define('get', GET, 2, { readOnly: true }),
  list: define('list', LIST, 6, { readOnly: true }),
  counts: define('counts', COUNTS, 3, { readOnly: true }),
  sweep: define('sweep', SWEEP, 8, {
    ...FREES_MEMORY,
    preludes: [PRELUDE, WRITE_PRELUDE, READ_PRELUDE, SETTLE_HELPERS],
  }),
  settle: define('settle', SETTLE, 5, { ...FREES_MEMORY, preludes: [PRELUDE, SETTLE_HELPERS] }),
  lock: define('lock', ACQUIRE_LOCK, 1, { ...FREES_MEMORY, preludes: [] }),
  renew: define('renew', RENEW_LOCK, 1, { ...FREES_MEMORY, preludes: [] }),
  release: define('release', RELEASE_LOCK, 1, { ...FREES_MEMORY, preludes: [] }),
  import: define('import', IMPORT, 9),
} as const;

/** Operation names that have a script. */
export type ScriptName = keyof typeof SCRIPTS;
