export type { BenchMode, BenchModeName } from './modes.js';
export { MODES } from './modes.js';
export type { BenchOptions, BenchOutput } from './run.js';
export { runBench } from './run.js';
export type { BenchSection, SectionContext, SectionResult } from './sections/section.js';
