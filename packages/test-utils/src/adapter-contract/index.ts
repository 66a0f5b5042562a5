export { contractDataSchema, contractResolveScope, ROUTES_PREFIX } from './context.js';
export { runAdapterContract } from './contract.js';
export type {
  AdapterHarness,
  AdapterHarnessOptions,
  ContractRequest,
  ContractScope,
  ContractStore,
  MakeAdapterHarness,
} from './harness.js';
export { ContractHttpError, SCOPE_HEADERS } from './harness.js';
export type { SseEvent } from './sse-client.js';
export { SseClient } from './sse-client.js';
