import { activeRuns } from './plugin.js';

export { activeRuns } from './plugin.js';
export type {
  ActiveRunsFastifyData,
  ActiveRunsFastifyOptions,
  ActiveRunsFastifyTypes,
} from './types.js';
export default activeRuns;
