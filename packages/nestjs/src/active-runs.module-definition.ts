import { ConfigurableModuleBuilder } from '@nestjs/common';
import { ACTIVE_RUNS_MODULE_OPTIONS } from './active-runs.constants.js';
import type { ActiveRunsModuleExtras, ActiveRunsModuleOptions } from './active-runs.interfaces.js';
import { withRoutes } from './active-runs.routes.js';

export const { ConfigurableModuleClass, OPTIONS_TYPE, ASYNC_OPTIONS_TYPE } =
  new ConfigurableModuleBuilder<ActiveRunsModuleOptions>({
    moduleName: 'ActiveRuns',
    optionsInjectionToken: ACTIVE_RUNS_MODULE_OPTIONS,
  })
    .setClassMethodName('forRoot')
    .setFactoryMethodName('createActiveRunsOptions')
    .setExtras<ActiveRunsModuleExtras>(
      { isGlobal: false, routes: undefined },
      (definition, extras) => withRoutes({ ...definition, global: extras.isGlobal }, extras.routes),
    )
    .build();

/** What `ActiveRunsModule.forRoot` takes. */
export type ActiveRunsModuleForRootOptions = typeof OPTIONS_TYPE;
/** What `ActiveRunsModule.forRootAsync` takes: `useFactory` + `inject`, `useClass` or `useExisting`. */
export type ActiveRunsModuleAsyncOptions = typeof ASYNC_OPTIONS_TYPE;
