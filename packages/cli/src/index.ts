/**
 * The `active-runs` command as a library: run it from code (a deploy script, a test) and get its
 * exit code. The bin is `active-runs`; see `active-runs --help`.
 */
export type { CliIO } from './output.js';
export { createProgram, runCli } from './program.js';
