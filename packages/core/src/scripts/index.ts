import { createHash } from 'node:crypto';
import { LAYOUT_VERSION } from '../constants.js';
import { COUNTS } from './counts.js';
import { END } from './end.js';
import { ENQUEUE } from './enqueue.js';
import { GET } from './get.js';
import { IMPORT } from './import.js';
import { LIST } from './list.js';
import { PRELUDE, READ_PRELUDE, WRITE_PRELUDE } from './prelude.js';
import { PROGRESS } from './progress.js';
import { START } from './start.js';
import { SWEEP } from './sweep.js';

/** A Lua script and how it is registered on a client. */
export interface ScriptDefinition {
  /** Command name on the client: versioned and content-addressed, so two library versions can share a client. */
  readonly command: string;
  readonly numberOfKeys: number;
  /** Declared `no-writes` (EVAL_RO-safe) and flagged read-only, so ioredis `scaleReads` may route it to a replica. */
  readonly readOnly: boolean;
  readonly lua: string;
}

function define(
  name: string,
  body: string,
  numberOfKeys: number,
  readOnly: boolean,
  preludes: string[] = [readOnly ? READ_PRELUDE : WRITE_PRELUDE],
): ScriptDefinition {
  // `#!lua` makes Redis 7 enforce declared keys and flags; `no-writes` allows EVAL_RO and replicas.
  const shebang = readOnly ? '#!lua flags=no-writes' : '#!lua';
  const lua = `${shebang}\n${PRELUDE}${preludes.join('')}${body}`;
  const digest = createHash('sha1').update(lua).digest('hex').slice(0, 8);
  return {
    command: `activeRuns_v${LAYOUT_VERSION}_${name}_${digest}`,
    numberOfKeys,
    readOnly,
    lua,
  };
}

/** Every script of the store, by operation. */
export const SCRIPTS = {
  enqueue: define('enqueue', ENQUEUE, 6, false),
  start: define('start', START, 6, false),
  progress: define('progress', PROGRESS, 6, false),
  end: define('end', END, 7, false),
  get: define('get', GET, 1, true),
  list: define('list', LIST, 6, true),
  counts: define('counts', COUNTS, 4, true),
  sweep: define('sweep', SWEEP, 7, false, [WRITE_PRELUDE, READ_PRELUDE]),
  import: define('import', IMPORT, 9, false),
} as const;

/** Operation names that have a script. */
export type ScriptName = keyof typeof SCRIPTS;
