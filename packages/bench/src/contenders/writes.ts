import type { ActiveRunStore, Scope } from '@active-runs/core';
import type { Redis } from 'ioredis';
import type { BenchRun } from '../data.js';
import { legacyJson, makeRun } from '../data.js';
import type { Footprint } from '../measure/footprint.js';
import { measureFootprints } from '../measure/footprint.js';

/** The store's write operations, in lifecycle order. */
export const WRITE_OPS = ['enqueue', 'start', 'progress', 'heartbeat', 'end'] as const;
export type WriteOp = (typeof WRITE_OPS)[number];

/** A run's inputs, built before any timed call (as an app has them in hand). */
export interface WriteInput {
  readonly run: BenchRun;
  /** The legacy layout's JSON of the run: what the baseline HSET writes. */
  readonly json: string;
  readonly enqueue: {
    id: string;
    source: string | null;
    caption: string;
    data: Record<string, unknown>;
  };
  readonly progress: { caption: string; data: Record<string, unknown> };
}

/**
 * Inputs for `count` fresh runs. `firstIndex` keeps each section's ids apart from the project's
 * seeded runs (indexes 0..size-1) and from the other sections'.
 */
export function writeInputs(firstIndex: number, count: number, nowMs: number): WriteInput[] {
  const out: WriteInput[] = [];
  for (let i = 0; i < count; i++) {
    const run = makeRun(firstIndex + i, 'large', nowMs);
    out.push({
      run,
      json: legacyJson(run),
      enqueue: { id: run.id, source: run.source, caption: 'Waiting for a worker', data: run.data },
      progress: {
        caption: 'Streaming response (step 4/4)',
        data: { ...run.data, promptTokens: 4_096 },
      },
    });
  }
  return out;
}

/** Calls one write operation of the store for one run. */
export function callWrite(
  store: ActiveRunStore,
  scope: Scope,
  op: WriteOp,
  input: WriteInput,
): Promise<unknown> {
  switch (op) {
    case 'enqueue':
      return store.enqueue(scope, input.enqueue);
    case 'start':
      return store.start(scope, input.run.id);
    case 'progress':
      return store.progress(scope, input.run.id, input.progress);
    case 'heartbeat':
      return store.heartbeat(scope, input.run.id);
    case 'end':
      return store.end(scope, input.run.id);
  }
}

/** A run that starts at once, in one call: an enqueue with `start` (issue 11). */
export function startAtOnce(
  store: ActiveRunStore,
  scope: Scope,
  input: WriteInput,
): Promise<unknown> {
  return store.enqueue(scope, { ...input.enqueue, start: true });
}

/**
 * Round trips `op` makes, counted where they leave: every command the client sends (a script is
 * one EVALSHA), averaged over `iterations` calls. Counts on the client, not the server, so the
 * commands a script runs inside count as what they are: part of one round trip.
 */
export async function roundTrips(
  client: Redis,
  op: (i: number) => Promise<unknown>,
  iterations: number,
): Promise<number> {
  const target = client as unknown as { sendCommand: (...args: unknown[]) => unknown };
  const own = Object.hasOwn(target, 'sendCommand');
  const original = target.sendCommand;
  let sent = 0;
  target.sendCommand = function (this: unknown, ...args: unknown[]) {
    sent++;
    return original.apply(this, args);
  };
  try {
    for (let i = 0; i < iterations; i++) await op(i);
  } finally {
    if (own) target.sendCommand = original;
    else delete (target as { sendCommand?: unknown }).sendCommand;
  }
  return sent / iterations;
}

/**
 * Footprint of each write operation over `inputs`, in lifecycle order (enqueue a slice, start
 * it, ..., end it; then the next slice), in rounds so load changes spread over every operation.
 */
export async function lifecycleFootprints(
  admin: Redis,
  store: ActiveRunStore,
  scope: Scope,
  inputs: readonly WriteInput[],
): Promise<Record<WriteOp, Footprint>> {
  const ops = WRITE_OPS.map((op) => (i: number) => callWrite(store, scope, op, inputs[i]!));
  const footprints = await measureFootprints(admin, ops, inputs.length);
  return Object.fromEntries(WRITE_OPS.map((op, k) => [op, footprints[k]!])) as Record<
    WriteOp,
    Footprint
  >;
}
