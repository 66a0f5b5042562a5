import { httpSection } from './http.js';
import { lifecycleSection } from './lifecycle.js';
import { memorySection } from './memory.js';
import { profileSection } from './profile.js';
import { readsSection } from './reads.js';
import type { BenchSection } from './section.js';
import { sweeperSection } from './sweeper.js';
import { telemetrySection } from './telemetry.js';
import { writesSection } from './writes.js';

/** Every section, in the order BENCHMARKS.md prints them. Add a new measurement here. */
export const SECTIONS: readonly BenchSection[] = [
  readsSection,
  writesSection,
  lifecycleSection,
  memorySection,
  sweeperSection,
  httpSection,
  telemetrySection,
  profileSection,
];

/**
 * The order sections run in: memory and the sweeper first, on a server that holds nothing else;
 * then the reads grow the shared project that writes, lifecycle and profiling reuse.
 */
export const RUN_ORDER: readonly string[] = [
  'memory',
  'sweeper',
  'reads',
  'writes',
  'lifecycle',
  'profile',
  'http',
  'telemetry',
];
