import { z } from 'zod';

/** The `data` of a simulated run: what an LLM platform would keep about a call in flight. */
export const runData = z.strictObject({
  model: z.string().min(1).max(64),
  tokens: z.number().int().nonnegative(),
});

/** The `data` of a run in the example. */
export type RunData = z.output<typeof runData>;
