/**
 * The one way the store sends commands to Redis. Each call has one deadline (the client's
 * `commandTimeout`, counted from the call, retries and fallbacks included), and ends in one of:
 * Redis's answer; `REDIS_UNAVAILABLE` when nothing of it was sent (and, thanks to
 * {@link GuardedCommand}, nothing ever will be); `TIMEOUT` when something was sent and not
 * answered (outcome unknown). Scripts go as EVALSHA, in full on a connection that has not run
 * them, again in full after a NOSCRIPT (SCRIPT FLUSH, a failover to a node that never ran
 * them), all within the same deadline. Durable writes send the script and its WAIT in one
 * pipeline, every attempt, so a write is acknowledged only once WAIT covered it.
 *
 * Internal, but meant for every module that talks to Redis for the store (the sweeper, the
 * legacy-layout migration), so they share the guarantees.
 */
import { createHash } from 'node:crypto';
import { Cluster, Command, Redis } from 'ioredis';
import { ActiveRunsError } from '../errors.js';
import type { RedisLike } from '../schemas.js';
import type { ScriptDefinition } from '../scripts/index.js';
import type { GuardedCommand, GuardedCommandClass, ScriptSource } from './guarded-command.js';
import { guardedCommandClass, isReplyError } from './guarded-command.js';
import type { Interruption } from './outcome.js';
import { failure, interrupted } from './outcome.js';

/** `commandTimeout` when a client has none (the store refuses such clients; the hub may not). */
const DEFAULT_TIMEOUT_MS = 5_000;
/** NOSCRIPT answers one call accepts (each loads the script again) before giving up. */
const MAX_NOSCRIPT_RETRIES = 3;
/** Backoff of a durable write redirected by a Cluster: 50 ms doubling up to this. */
const MAX_REDIRECT_BACKOFF_MS = 500;
/**
 * How often deadlines are checked: a call settles at most this much after its deadline. One
 * timer per caller, running only while calls are in flight, instead of one per call.
 */
const DEADLINE_TICK_MS = 20;

/** `WAIT` after each write: how many replicas, for how long. */
export interface DurableWrites {
  replicas: number;
  timeoutMs: number;
}

type Arg = string | number;
type Reply = [Error | null, unknown][] | null;

interface ClientInternals {
  sendCommand(command: GuardedCommand): Promise<unknown>;
  pipeline(): {
    sendCommand(command: GuardedCommand): unknown;
    wait(replicas: number, timeoutMs: number): unknown;
    exec(): Promise<Reply>;
  };
  refreshSlotsCache?(callback?: () => void): void;
  nodes?(role: 'all'): { constructor: unknown }[];
  options: { redisOptions?: { commandTimeout?: number }; commandTimeout?: number };
}

const sources = new WeakMap<ScriptDefinition, ScriptSource>();

function sourceOf(def: ScriptDefinition): ScriptSource {
  let source = sources.get(def);
  if (!source) {
    const sha = createHash('sha1').update(def.lua).digest('hex');
    source = { lua: def.lua, sha, loaded: new WeakSet() };
    sources.set(def, source);
  }
  return source;
}

function isCommandClass(value: unknown): value is typeof Command {
  return (
    typeof value === 'function' &&
    typeof (value as { prototype?: { toWritable?: unknown } }).prototype?.toWritable === 'function'
  );
}

/**
 * The `Command` class of the client's own copy of ioredis (an app may load another copy than the
 * store's): ours for our clients, else the public static `Redis.Command` of its class, else (a
 * Cluster of another copy) that of one of its node connections. Undefined: not ioredis as we
 * know it; the caller then falls back to the client's script commands (see {@link RedisCaller}).
 */
function commandClassOf(client: RedisLike): typeof Command | undefined {
  if (client instanceof Redis || client instanceof Cluster) return Command;
  const own = (client.constructor as { Command?: unknown }).Command;
  if (isCommandClass(own)) return own;
  for (const node of (client as unknown as ClientInternals).nodes?.('all') ?? []) {
    const theirs = (node.constructor as { Command?: unknown }).Command;
    if (isCommandClass(theirs)) return theirs;
  }
  return undefined;
}

/** One call in flight: its ledger (see {@link GuardedCommand}), deadline and promise. */
class Call {
  writes = 0;
  answers = 0;
  done = false;
  readonly promise: Promise<unknown>;
  /** When the deadline passes (performance.now() ms). */
  readonly deadline: number;
  private resolve!: (value: unknown) => void;
  private reject!: (error: unknown) => void;

  constructor(
    private readonly caller: RedisCaller,
    readonly operation: string,
    readonly isWrite: boolean,
    bound = Number.POSITIVE_INFINITY,
  ) {
    this.deadline = Math.min(performance.now() + caller.timeoutMs, bound);
    this.promise = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  succeed(value: unknown): void {
    if (this.done) return;
    this.end();
    this.resolve(value);
  }

  fail(error: unknown): void {
    if (this.done) return;
    const typed = failure(error, this, this.operation, this.isWrite);
    this.end();
    this.reject(typed);
  }

  interrupt(why: Interruption): void {
    if (this.done) return;
    const { timeoutMs, client } = this.caller;
    const typed = interrupted(why, this, this.operation, this.isWrite, timeoutMs, client.status);
    this.end();
    this.reject(typed);
  }

  /** Time left before the deadline (ms). */
  remainingMs(): number {
    return this.deadline - performance.now();
  }

  private end(): void {
    this.done = true;
    this.caller.forget(this);
  }
}

/** Sends the store's commands with one deadline per call; see the module doc. */
export class RedisCaller {
  /** The deadline of every call: the client's `commandTimeout`. */
  readonly timeoutMs: number;
  private readonly Guarded: GuardedCommandClass | undefined;
  /** Calls in flight. */
  private readonly inFlight = new Set<Call>();
  private deadlineTimer: NodeJS.Timeout | undefined;
  /** The deadline of calls begun inside {@link bounded}. */
  private bound: number | undefined;

  constructor(readonly client: RedisLike) {
    const options = (client as unknown as ClientInternals).options;
    const timeout = client.isCluster
      ? options.redisOptions?.commandTimeout
      : options.commandTimeout;
    this.timeoutMs = typeof timeout === 'number' && timeout > 0 ? timeout : DEFAULT_TIMEOUT_MS;
    const Base = commandClassOf(client);
    this.Guarded = Base && guardedCommandClass(Base);
  }

  /** Calls not settled yet. */
  get pending(): number {
    return this.inFlight.size;
  }

  /** Resolves once no call is in flight. */
  async drained(): Promise<void> {
    while (this.inFlight.size > 0) {
      await Promise.allSettled([...this.inFlight].map((call) => call.promise));
    }
  }

  /**
   * Settles every call in flight, typed as if its deadline had passed (`close()`): what was sent
   * is `TIMEOUT`, what was not is `REDIS_UNAVAILABLE` and will never be sent.
   */
  interruptAll(): void {
    for (const call of [...this.inFlight]) call.interrupt('closed');
  }

  /**
   * Runs `run`, holding every call it begins synchronously to `deadline` (a `performance.now()`
   * time) at the latest: for an operation made of several calls, some begun by the store's own
   * methods (the rollout mode's dual writes, src/legacy/), that must all end by one deadline.
   */
  bounded<T>(deadline: number, run: () => T): T {
    const outer = this.bound;
    this.bound = deadline;
    try {
      return run();
    } finally {
      this.bound = outer;
    }
  }

  /** @internal */
  forget(call: Call): void {
    this.inFlight.delete(call);
  }

  /** Runs a script registered with `defineCommand` (see the module doc). */
  script(
    def: ScriptDefinition,
    operation: string,
    isWrite: boolean,
    keys: string[],
    args: Arg[],
  ): Promise<unknown> {
    const call = this.begin(operation, isWrite);
    if (this.Guarded) this.sendScript(call, def, keys, args, 0);
    else this.legacyScript(call, def, keys, args);
    return call.promise;
  }

  /** A plain command (`readOnly`: may go to a replica under `scaleReads`). */
  command(
    name: string,
    args: Arg[],
    operation: string,
    { isWrite = false, readOnly = false }: { isWrite?: boolean; readOnly?: boolean } = {},
  ): Promise<unknown> {
    const call = this.begin(operation, isWrite);
    if (this.Guarded) {
      const command = this.newCommand(call, name, args, readOnly, undefined);
      this.send(command).then(
        (value) => call.succeed(value),
        (error: unknown) => call.fail(error),
      );
    } else {
      const client = this.client as unknown as { call(...a: Arg[]): Promise<unknown> };
      client.call(name, ...args).then(
        (value) => call.succeed(value),
        (error: unknown) => call.fail(error),
      );
    }
    return call.promise;
  }

  /**
   * A write and a `WAIT` in one pipeline (same connection, same node, one round trip), so the
   * write is acknowledged only once `durable.replicas` replicas have it. Retried within the
   * call's deadline after NOSCRIPT (the script again in full, with its WAIT) and, on a Cluster,
   * after a redirection of the script alone (ioredis retries a pipeline only when every command
   * failed alike; here WAIT succeeds where the script met MOVED/ASK/TRYAGAIN/CLUSTERDOWN, which
   * means it did not run, so sending it again is safe).
   */
  durableScript(
    def: ScriptDefinition,
    operation: string,
    keys: string[],
    args: Arg[],
    durable: DurableWrites,
  ): Promise<unknown> {
    const call = this.begin(operation, true);
    this.runDurably(call, def, keys, args, durable).catch((error: unknown) => call.fail(error));
    return call.promise;
  }

  private begin(operation: string, isWrite: boolean): Call {
    const call = new Call(this, operation, isWrite, this.bound);
    this.inFlight.add(call);
    this.deadlineTimer ??= setInterval(() => this.expire(), DEADLINE_TICK_MS);
    return call;
  }

  /** Settles the calls whose deadline passed; stops checking once none is in flight. */
  private expire(): void {
    const now = performance.now();
    // every call, not up to the first one still in time: a bounded call can end before one
    // that started earlier
    for (const call of this.inFlight) if (call.deadline <= now) call.interrupt('deadline');
    if (this.inFlight.size === 0) {
      clearInterval(this.deadlineTimer);
      this.deadlineTimer = undefined;
    }
  }

  private newCommand(
    call: Call,
    name: string,
    args: Arg[],
    readOnly: boolean,
    script: ScriptSource | undefined,
  ): GuardedCommand {
    const Guarded = this.Guarded as GuardedCommandClass;
    const command = new Guarded(name, args, readOnly ? { replyEncoding: 'utf8', readOnly } : UTF8);
    command.ledger = call;
    command.script = script;
    return command;
  }

  private scriptCommand(call: Call, def: ScriptDefinition, keys: string[], args: Arg[]) {
    const source = sourceOf(def);
    const command = this.newCommand(
      call,
      'evalsha',
      [source.sha, def.numberOfKeys, ...keys, ...args],
      def.readOnly,
      source,
    );
    return { command, source };
  }

  private send(command: GuardedCommand): Promise<unknown> {
    return (this.client as unknown as ClientInternals).sendCommand(command);
  }

  private sendScript(
    call: Call,
    def: ScriptDefinition,
    keys: string[],
    args: Arg[],
    noscripts: number,
  ): void {
    const { command, source } = this.scriptCommand(call, def, keys, args);
    this.send(command).then(
      (value) => {
        call.answers++;
        call.succeed(value);
      },
      (error: unknown) => {
        if (call.done) return;
        if (isNoScript(error) && noscripts < MAX_NOSCRIPT_RETRIES) {
          // the node lost the script (SCRIPT FLUSH, a promoted replica that never ran it)
          if (command.socket) source.loaded.delete(command.socket);
          this.sendScript(call, def, keys, args, noscripts + 1);
          return;
        }
        call.fail(error);
      },
    );
  }

  /**
   * Without a `Command` class to guard (not ioredis as we know it): the client's own script
   * command, settled at the deadline. Whether a failed call was sent cannot be known then, so a
   * write that timed out or lost its connection is `TIMEOUT` (it may have been, or be, applied).
   */
  private legacyScript(call: Call, def: ScriptDefinition, keys: string[], args: Arg[]): void {
    const fn = (this.client as unknown as Record<string, (...a: Arg[]) => Promise<unknown>>)[
      def.command
    ] as (...a: Arg[]) => Promise<unknown>;
    call.writes++; // counted as sent: the store cannot see what ioredis did with it
    fn.call(this.client, ...keys, ...args).then(
      (value) => {
        call.answers++;
        call.succeed(value);
      },
      (error: unknown) => {
        if (isReplyError(error) || /enableOfflineQueue/.test(String(error))) call.answers++;
        call.fail(error);
      },
    );
  }

  private async runDurably(
    call: Call,
    def: ScriptDefinition,
    keys: string[],
    args: Arg[],
    durable: DurableWrites,
  ): Promise<void> {
    const client = this.client as unknown as ClientInternals;
    let noscripts = 0;
    for (let attempt = 0; !call.done; attempt++) {
      const pipeline = client.pipeline();
      const guarded = this.Guarded && this.scriptCommand(call, def, keys, args);
      if (guarded) {
        pipeline.sendCommand(guarded.command);
      } else {
        // without a Command class to guard: the client's script command (see legacyScript)
        call.writes++;
        (pipeline as unknown as Record<string, (...a: Arg[]) => unknown>)[def.command]?.(
          ...keys,
          ...args,
        );
      }
      pipeline.wait(durable.replicas, durable.timeoutMs);
      const results = await pipeline.exec();
      if (call.done) return;
      const [written, waited] = results ?? [];
      if (!written) throw new Error('empty pipeline reply');
      const error = written[0];
      if (error) {
        if (isNoScript(error) && noscripts++ < MAX_NOSCRIPT_RETRIES) {
          if (!guarded) call.answers++; // a guarded command counts its error replies itself
          if (guarded?.command.socket) guarded.source.loaded.delete(guarded.command.socket);
          continue;
        }
        const redirected = /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN) /.test(error.message);
        const backoffMs = Math.min(50 * 2 ** attempt, MAX_REDIRECT_BACKOFF_MS);
        if (redirected && this.client.isCluster && call.remainingMs() > backoffMs) {
          if (/^(MOVED|ASK) /.test(error.message)) client.refreshSlotsCache?.();
          await new Promise((resolve) => setTimeout(resolve, backoffMs));
          continue;
        }
        call.fail(error);
        return;
      }
      call.answers++;
      const acked = waited && !waited[0] ? Number(waited[1]) : 0;
      if (acked < durable.replicas) {
        call.fail(
          new ActiveRunsError(
            'TIMEOUT',
            `${call.operation}: applied on the primary but confirmed by ${acked} of ${durable.replicas} replica(s) within ${durable.timeoutMs} ms; it could be lost if the primary fails now. Retrying is safe.`,
            { cause: waited?.[0] ?? undefined, details: { acknowledgedReplicas: acked } },
          ),
        );
        return;
      }
      call.succeed(written[1]);
    }
  }
}

const UTF8 = { replyEncoding: 'utf8' } as const;

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}
