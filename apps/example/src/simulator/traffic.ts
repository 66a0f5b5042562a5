/**
 * Realistic traffic for the demo: in every project, runs are enqueued from several sources,
 * wait in the queue, start, progress with captions and renew their lease, and end. Some
 * workers "die" half-way (they stop calling the store), so the sweeper expires their runs and
 * the servers report them.
 * @module
 */
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { type ActiveRunStore, isActiveRunsError, type Scope } from '@active-runs/core';
import type { RunData } from '../run-data.js';

/** Options of {@link startTraffic}. */
export interface TrafficOptions {
  store: ActiveRunStore<RunData>;
  /** The projects that get traffic. */
  scopes: readonly Scope[];
  /** New runs per second in each project. */
  ratePerSecond: number;
  /** Mean time a run waits in the queue, in seconds. */
  queueSeconds: number;
  /** Mean time a run runs, in seconds. */
  runSeconds: number;
  /** Share of runs whose worker dies (0 to 1). */
  dieRatio: number;
  /** Lease of a run: a dead worker's run is expired this long after its last call. */
  leaseMs: number;
  /** At most this many active runs per project: no new run while a project has them. */
  maxActive: number;
  /** Where the simulator reports (dead workers, errors). */
  log(line: string): void;
  /** @default Math.random */
  random?: () => number;
}

/** Traffic that runs until `stop`. */
export interface Traffic {
  /** Runs whose worker is busy now, per `workspace/project`. */
  active(scope: Scope): number;
  /** Enqueues no more; ends the runs in flight (as workers that shut down do) and resolves. */
  stop(): Promise<void>;
}

/** Where a run comes from, weighted: most runs come from the API. */
const SOURCES = ['api', 'api', 'api', 'api', 'playground', 'playground', 'evaluation', 'batch'];
const MODELS = ['gpt-4o', 'claude-sonnet', 'llama-3.1-70b', 'mistral-large'];
const STEPS = [
  'loading the conversation',
  'retrieving documents',
  'calling tool web_search',
  'thinking',
  'calling tool run_sql',
  'streaming tokens',
  'checking the answer',
  'writing the answer',
];
const TICK_MS = 100;

const scopeName = (scope: Scope) => `${scope.workspaceId}/${scope.projectId}`;

class Aborted extends Error {}

/** Starts the traffic; see the module's comment. */
export function startTraffic(options: TrafficOptions): Traffic {
  const { store, leaseMs, log } = options;
  const random = options.random ?? Math.random;
  const controller = new AbortController();
  // every sleeping worker listens for the stop
  setMaxListeners(0, controller.signal);
  const busy = new Map<string, number>();
  const workers = new Set<Promise<void>>();
  const inFlight = new Map<string, Scope>();
  let reportedError = '';

  const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)]!;
  /**
   * Exponentially distributed, as waits between independent events are, but never so long
   * that a live worker's lease lapses between two calls.
   */
  const duration = (meanSeconds: number) =>
    Math.min(-Math.log(1 - random()) * meanSeconds * 1000, leaseMs * 0.6);
  const sleep = (ms: number) =>
    new Promise<void>((resolve, reject) => {
      if (controller.signal.aborted) return reject(new Aborted());
      const timer = setTimeout(() => {
        controller.signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(timer);
        reject(new Aborted());
      };
      controller.signal.addEventListener('abort', onAbort, { once: true });
    });

  async function work(scope: Scope): Promise<void> {
    const id = randomUUID();
    const model = pick(MODELS);
    const leaseOption = { leaseMs };
    await store.enqueue(scope, {
      id,
      source: pick(SOURCES),
      caption: 'waiting for a worker',
      data: { model, tokens: 0 },
      leaseMs,
    });
    inFlight.set(id, scope);
    await sleep(duration(options.queueSeconds));
    await store.start(scope, id, leaseOption);
    const steps = 3 + Math.floor(random() * 5);
    const dieAt = random() < options.dieRatio ? Math.floor(random() * steps) : -1;
    let tokens = 0;
    for (let step = 0; step < steps; step++) {
      if (step === dieAt) {
        inFlight.delete(id);
        log(
          `the worker of run ${id.slice(0, 8)} in ${scopeName(scope)} died: no more heartbeats, the sweeper expires it in ~${Math.round(leaseMs / 1000)} s`,
        );
        return;
      }
      const caption = STEPS[Math.min(step, STEPS.length - 1)]!;
      const stepMs = duration(options.runSeconds / steps);
      if (caption.startsWith('calling tool')) {
        // a long tool call: the caption says so, and halfway the worker only renews its lease
        await store.progress(scope, id, { caption, leaseMs });
        await sleep(stepMs / 2);
        await store.heartbeat(scope, id, leaseOption);
        await sleep(stepMs / 2);
        continue;
      }
      tokens += 40 + Math.floor(random() * 400);
      await store.progress(scope, id, {
        caption: caption === 'streaming tokens' ? `streaming tokens (${tokens})` : caption,
        data: { model, tokens },
        leaseMs,
      });
      await sleep(stepMs);
    }
    inFlight.delete(id);
    await store.end(scope, id);
  }

  function launch(scope: Scope): void {
    const key = scopeName(scope);
    busy.set(key, (busy.get(key) ?? 0) + 1);
    const worker = work(scope)
      .catch((error: unknown) => {
        if (error instanceof Aborted) return;
        // a run the sweeper expired while its worker was stalled, Redis away for a moment:
        // a real worker logs and moves on, so does this one (once per distinct message)
        const message = isActiveRunsError(error)
          ? `${error.code}: ${error.message}`
          : String(error);
        if (message !== reportedError) log(`a worker failed: ${message}`);
        reportedError = message;
      })
      .finally(() => {
        busy.set(key, (busy.get(key) ?? 1) - 1);
        workers.delete(worker);
      });
    workers.add(worker);
  }

  // each project earns `ratePerSecond` runs per second; a tick spends what it earned
  const credit = new Map<string, number>();
  const ticker = setInterval(() => {
    for (const scope of options.scopes) {
      const key = scopeName(scope);
      let earned = (credit.get(key) ?? random()) + (options.ratePerSecond * TICK_MS) / 1000;
      for (; earned >= 1; earned -= 1) {
        if ((busy.get(key) ?? 0) < options.maxActive) launch(scope);
      }
      credit.set(key, earned);
    }
  }, TICK_MS);

  return {
    active: (scope) => busy.get(scopeName(scope)) ?? 0,
    async stop() {
      clearInterval(ticker);
      controller.abort();
      await Promise.allSettled([...workers]);
      // workers that shut down end their runs; the ones that died leave theirs to the sweeper
      await Promise.allSettled(
        [...inFlight].map(([id, scope]) => store.end(scope, id).catch(() => undefined)),
      );
      inFlight.clear();
    },
  };
}
