/**
 * An ioredis `Command` that knows which call it belongs to, so the store can say what happened to
 * a call that failed: never sent, or sent and not answered.
 *
 * ioredis keeps a command that could not be written in its offline queue (and one written before a
 * disconnect in a queue of commands to re-send) and writes it after the next reconnect, even when
 * its promise was already rejected by `commandTimeout` (redis/ioredis#2130; the fix, #2131, is not
 * in any release up to 6.0.0). A call the store reported as not sent would then be applied later:
 * a ghost write. Every path by which ioredis puts a command on a socket (the first send, the
 * offline-queue flush, the re-send after a reconnect, a Cluster's redirections and retries, a
 * pipeline) goes through `Command#toWritable`, a public method that ioredis's own scripts
 * override too. This class overrides it to count real writes and, once its call has settled,
 * to write `PING` instead: one command, one reply, so ioredis's reply queue stays aligned, and
 * nothing of the call reaches Redis after the store answered.
 *
 * Redis's error replies are counted through `reject` (ioredis calls `command.reject(error)` for
 * every failure, and a Cluster wraps it to retry redirections): with writes and replies counted,
 * a failed call knows whether some write of it may have been applied (a write with no reply).
 */
import type { Command } from 'ioredis';

/** What a call knows about its commands. */
export interface CallLedger {
  /** Writes of the call's commands to a socket (each one gets one reply, or none if the link dies). */
  writes: number;
  /** Replies Redis gave to them, error replies included. */
  answers: number;
  /** The call has settled: anything ioredis still holds of it is written as a harmless PING. */
  done: boolean;
}

/** A Lua script sent by hash, or in full on a connection that has not run it yet. */
export interface ScriptSource {
  readonly lua: string;
  readonly sha: string;
  /** Sockets known to have the script (EVAL ran on them); a NOSCRIPT reply removes its socket. */
  readonly loaded: WeakSet<object>;
}

/** An ioredis command tied to a {@link CallLedger}. */
export interface GuardedCommand extends Command {
  ledger: CallLedger;
  /** The script this EVALSHA runs (undefined for a plain command). */
  script: ScriptSource | undefined;
  /** The socket of its last write (a NOSCRIPT reply says that socket lacks the script). */
  socket: object | undefined;
}

/** Constructor of guarded commands, made from the client's own copy of ioredis's `Command`. */
export type GuardedCommandClass = new (
  name: string,
  args: (string | number | Buffer)[],
  options: { replyEncoding: 'utf8'; readOnly?: boolean },
) => GuardedCommand;

/** What ioredis writes instead of a command whose call already settled. */
const PING = '*1\r\n$4\r\nPING\r\n';

/** True for an error that is Redis's reply (not a client-side failure such as a closed connection). */
export function isReplyError(error: unknown): boolean {
  return error instanceof Error && error.name === 'ReplyError';
}

interface Internals {
  innerReject: (error: Error) => void;
  lastError: unknown;
}

const classes = new WeakMap<typeof Command, GuardedCommandClass>();

/** The guarded subclass of `Base` (one per copy of ioredis). */
export function guardedCommandClass(Base: typeof Command): GuardedCommandClass {
  const cached = classes.get(Base);
  if (cached) return cached;
  class Guarded extends Base {
    declare ledger: CallLedger;
    declare script: ScriptSource | undefined;
    declare socket: object | undefined;

    override toWritable(socket: object): string | Buffer {
      const ledger = this.ledger;
      if (ledger.done) return PING;
      ledger.writes++;
      const script = this.script;
      if (script) {
        // like ioredis's own scripts: the body once per connection, the hash afterwards
        this.socket = socket;
        if (!script.loaded.has(socket)) {
          script.loaded.add(socket);
          this.name = 'eval';
          this.args[0] = script.lua;
        } else if (this.name === 'eval') {
          this.name = 'evalsha';
          this.args[0] = script.sha;
        }
      }
      return super.toWritable(socket);
    }

    /** The call has one deadline for all its commands (see the caller), not one per command. */
    override setTimeout(): void {}

    /**
     * ioredis 6 decodes replies by the connection's protocol and `replyMapping`; the store reads
     * RESP2-shaped replies (the `legacy` mapping) whatever the user chose for their own commands.
     */
    override setReplyContext(context: Parameters<Command['setReplyContext']>[0]): void {
      const base = Base.prototype as { setReplyContext?: Command['setReplyContext'] };
      base.setReplyContext?.call(this, context);
      // the field ioredis 6 decodes by (set above from the connection): no object per command
      (this as unknown as { replyMapping: string }).replyMapping = 'legacy';
    }
  }
  // `reject` is an instance property that ioredis assigns (and a Cluster re-assigns to wrap it):
  // an accessor on the prototype sees each assignment and each call
  Object.defineProperty(Guarded.prototype, 'reject', {
    configurable: true,
    set(this: Guarded & Internals, reject: (error: Error) => void) {
      this.innerReject = reject;
    },
    get(this: Guarded & Internals) {
      // bound to the function assigned now: a Cluster keeps the previous one to call it later
      const inner = this.innerReject;
      return (error: Error) => {
        if (error !== this.lastError) {
          this.lastError = error;
          if (isReplyError(error)) this.ledger.answers++;
        }
        inner.call(this, error);
      };
    },
  });
  const made = Guarded as unknown as GuardedCommandClass;
  classes.set(Base, made);
  return made;
}
