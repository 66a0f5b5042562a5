import { randomUUID } from 'node:crypto';
import { type Job, Queue, Worker } from 'bullmq';
import type { BenchRun } from '../data.js';
import { legacyJson } from '../data.js';

/** BullMQ's lock, as long as the store's default lease: an active job keeps its lock like a run its lease. */
const LOCK_MS = 3 * 60 * 60 * 1_000;

/** The same runs as BullMQ jobs: a queue, and a worker that takes jobs by hand (no processor loop). */
export interface BullHarness {
  readonly queue: Queue;
  readonly worker: Worker;
  /** Adds runs as jobs and makes each one active, a batch of concurrent calls at a time. */
  seedActive(runs: readonly BenchRun[]): Promise<void>;
  /** BullMQ's page of active jobs. */
  page(start: number, end: number): Promise<unknown[]>;
  /** A run start the BullMQ way: add a job, then a worker takes it (two calls). */
  start(job: BullJob): Promise<Job>;
  /** A run end the BullMQ way: the job completes and is removed (removeOnComplete). */
  end(job: Job): Promise<void>;
  /** Deletes the queue's keys and closes its connections. */
  destroy(): Promise<void>;
  close(): Promise<void>;
}

/** A run as a BullMQ job; removed when it completes, as `end` removes a run. */
export interface BullJob {
  name: string;
  data: Record<string, unknown>;
  opts: { removeOnComplete: true; removeOnFail: true };
}

/** The job of a run (built before any timed call, like the store's input). */
export function bullJob(run: BenchRun): BullJob {
  return {
    name: 'run',
    data: JSON.parse(legacyJson(run)) as Record<string, unknown>,
    opts: { removeOnComplete: true, removeOnFail: true },
  };
}

export async function createBullHarness(
  connection: { host: string; port: number },
  name: string,
): Promise<BullHarness> {
  const options = { connection: { ...connection, maxRetriesPerRequest: null } };
  const queue = new Queue(name, options);
  const worker = new Worker(name, null, { ...options, autorun: false, lockDuration: LOCK_MS });
  await queue.waitUntilReady();
  await worker.waitUntilReady();
  const token = randomUUID();
  const take = async (): Promise<Job> => {
    const job = await worker.getNextJob(token, { block: false });
    if (!job) throw new Error('BullMQ: no waiting job to take');
    return job;
  };
  const harness: BullHarness = {
    queue,
    worker,
    async seedActive(runs) {
      await queue.addBulk(runs.map(bullJob));
      await Promise.all(runs.map(() => take()));
    },
    page: (start, end) => queue.getJobs(['active'], start, end),
    async start(job) {
      await queue.add(job.name, job.data, job.opts);
      return take();
    },
    async end(job) {
      await job.moveToCompleted('done', token, false);
    },
    async destroy() {
      await queue.obliterate({ force: true });
      await harness.close();
    },
    async close() {
      await worker.close();
      await queue.close();
    },
  };
  return harness;
}
