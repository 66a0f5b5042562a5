import { Inject } from '@nestjs/common';
import { ACTIVE_RUN_STORE } from './active-runs.constants.js';

/**
 * Injects the store: `constructor(@InjectActiveRuns() private readonly runs: ActiveRunStore<RunData>)`.
 * An explicit token, so it works without decorator metadata (esbuild, vitest).
 */
export const InjectActiveRuns = (): PropertyDecorator & ParameterDecorator =>
  Inject(ACTIVE_RUN_STORE);
