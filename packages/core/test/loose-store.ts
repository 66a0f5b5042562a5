import type { ActiveRunStore } from '../src/index.js';

/** The store's methods with every parameter loosened to `unknown`, to pass bad input. */
export interface LooseStore {
  enqueue(scope: unknown, input: unknown): Promise<unknown>;
  start(scope: unknown, id: unknown, options?: unknown): Promise<unknown>;
  progress(scope: unknown, id: unknown, input: unknown): Promise<unknown>;
  heartbeat(scope: unknown, id: unknown, options?: unknown): Promise<unknown>;
  end(scope: unknown, id: unknown): Promise<unknown>;
  get(scope: unknown, id: unknown): Promise<unknown>;
  list(scope: unknown, options?: unknown): Promise<unknown>;
  counts(scope: unknown): Promise<unknown>;
  stats(scope: unknown, options?: unknown): Promise<unknown>;
  subscribe(scope: unknown, handler: unknown): Promise<unknown>;
  startSweeper(options?: unknown): void;
  stopSweeper(): Promise<void>;
}

/** The same store, typed loosely. */
export const loose = (store: ActiveRunStore<unknown>) => store as unknown as LooseStore;
