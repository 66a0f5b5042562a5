import { createHmac, timingSafeEqual } from 'node:crypto';
import { MAX_ID_LENGTH, TIME_SPAN } from './constants.js';
import { ActiveRunsError } from './errors.js';
import { parseRunId } from './keys.js';

/** Where a cursor points: after the run with this (score, id) in list order. */
export interface CursorPosition {
  /** Index score relative to the source band: `phase * 2^44 + time`. */
  score: number;
  id: string;
}

const CURSOR_VERSION = 1;
const MAX_CURSOR_LENGTH = 64 + MAX_ID_LENGTH * 2;

function sign(secret: string, binding: string, payload: string): string {
  return createHmac('sha256', secret)
    .update(`${binding}\n${payload}`)
    .digest('base64url')
    .slice(0, 16);
}

/**
 * Encodes a cursor. `binding` names the scope and filters it was made for, so a cursor used with
 * another scope or filter, or edited by hand, is rejected instead of yielding a wrong page.
 */
export function encodeCursor(position: CursorPosition, binding: string, secret: string): string {
  const payload = Buffer.from(
    JSON.stringify([CURSOR_VERSION, position.score, position.id]),
  ).toString('base64url');
  return `${payload}.${sign(secret, binding, payload)}`;
}

function invalid(reason: string): ActiveRunsError {
  return new ActiveRunsError(
    'INVALID_ARGUMENT',
    `cursor is invalid (${reason}); pass back the nextCursor of the previous page unchanged, with the same status and source filters, or omit it to start from the first page.`,
    { details: { field: 'cursor' } },
  );
}

/**
 * Decodes and verifies a cursor.
 * @throws ActiveRunsError `INVALID_ARGUMENT` when the cursor was edited, truncated, or made for other filters.
 */
export function decodeCursor(cursor: unknown, binding: string, secret: string): CursorPosition {
  if (typeof cursor !== 'string') throw invalid('not a string');
  if (cursor.length === 0 || cursor.length > MAX_CURSOR_LENGTH) throw invalid('bad length');
  const dot = cursor.indexOf('.');
  if (dot <= 0) throw invalid('malformed');
  const payload = cursor.slice(0, dot);
  const mac = Buffer.from(cursor.slice(dot + 1));
  const expected = Buffer.from(sign(secret, binding, payload));
  if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) {
    throw invalid('signature mismatch: edited, or made for another scope or filter');
  }
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    throw invalid('undecodable');
  }
  if (!Array.isArray(decoded) || decoded.length !== 3 || decoded[0] !== CURSOR_VERSION) {
    throw invalid('unknown version');
  }
  const [, score, id] = decoded as [number, unknown, unknown];
  if (
    typeof score !== 'number' ||
    !Number.isSafeInteger(score) ||
    score < 0 ||
    score >= 2 * TIME_SPAN
  ) {
    throw invalid('bad position');
  }
  try {
    return { score, id: parseRunId(id) };
  } catch {
    throw invalid('bad id');
  }
}
