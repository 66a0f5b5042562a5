/**
 * The logger the store writes to: pino-compatible (`logger.warn(object, message)`), so a pino,
 * Fastify or Nest logger can be passed as is. Methods that are missing are skipped.
 */
export interface ActiveRunsLogger {
  warn?(object: Record<string, unknown>, message: string): void;
  info?(object: Record<string, unknown>, message: string): void;
  debug?(object: Record<string, unknown>, message: string): void;
  error?(object: Record<string, unknown>, message: string): void;
}

/** A logger that drops everything. */
export const silentLogger: ActiveRunsLogger = {};
