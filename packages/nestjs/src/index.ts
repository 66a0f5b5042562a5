export {
  ACTIVE_RUN_STORE,
  ACTIVE_RUNS_MODULE_OPTIONS,
} from './active-runs.constants.js';
export { InjectActiveRuns } from './active-runs.decorator.js';
export type {
  ActiveRunsModuleExtras,
  ActiveRunsModuleOptions,
  ActiveRunsNestRoutesOptions,
  ActiveRunsScopeResolver,
} from './active-runs.interfaces.js';
export { ActiveRunsModule } from './active-runs.module.js';
export type {
  ActiveRunsModuleAsyncOptions,
  ActiveRunsModuleForRootOptions,
} from './active-runs.module-definition.js';
