/** The change events the write scripts publish, decoded (see docs/ARCHITECTURE.md, Events). */
import type { ActiveRun } from '../codec.js';
import { decodeRun } from '../codec.js';
import { ActiveRunsError } from '../errors.js';
import type { Scope } from '../keys.js';
import type { RunChangeEvent, RunChangeType, RunHeartbeatEvent } from './types.js';

const CHANGE_TYPES: ReadonlySet<string> = new Set<RunChangeType>([
  'queued',
  'started',
  'progress',
  'heartbeat',
  'ended',
  'expired',
]);

/**
 * Decodes a published message `kind \n seq \n id \n leaseScore \n value` (value: see codec.ts;
 * for a heartbeat, the new lease deadline).
 * @throws ActiveRunsError `INTERNAL` when the message is not an event of this library.
 */
export function decodeRunEvent<TData = unknown>(
  message: string,
  scope: Scope,
): RunChangeEvent<TData> | RunHeartbeatEvent {
  const a = message.indexOf('\n');
  const b = a < 0 ? -1 : message.indexOf('\n', a + 1);
  const c = b < 0 ? -1 : message.indexOf('\n', b + 1);
  const d = c < 0 ? -1 : message.indexOf('\n', c + 1);
  const type = a < 0 ? '' : message.slice(0, a);
  const seq = Number(message.slice(a + 1, b));
  const minSeq = type === 'heartbeat' ? 0 : 1;
  if (d < 0 || !CHANGE_TYPES.has(type) || !Number.isSafeInteger(seq) || seq < minSeq) {
    throw new ActiveRunsError(
      'INTERNAL',
      `not a run event: ${JSON.stringify(message.slice(0, 80))}`,
    );
  }
  const id = message.slice(b + 1, c);
  const value = message.slice(d + 1);
  if (type === 'heartbeat') {
    const leaseExpiresAt = Number(value);
    if (!Number.isSafeInteger(leaseExpiresAt)) {
      throw new ActiveRunsError('INTERNAL', `malformed heartbeat event of run ${id}`);
    }
    return { type, scope, seq, id, leaseExpiresAt };
  }
  let run: ActiveRun<TData>;
  try {
    const parts = value.split('\n', 6);
    if (parts.length !== 6) throw new Error('the run value has fewer than 6 parts');
    // a message is checked whole as it arrives: decodeRun takes the caption's text as it is and
    // parses data on first read, so a malformed one would otherwise throw (or not) later, in the
    // subscriber's handler, instead of being refused here
    if (parts[4] !== '') JSON.parse(parts[4]!);
    run = decodeRun<TData>(id, value);
    void run.data;
  } catch (error) {
    throw new ActiveRunsError('INTERNAL', `malformed run in event of run ${id}`, { cause: error });
  }
  return { type: type as RunChangeEvent['type'], scope, seq, id, run };
}
