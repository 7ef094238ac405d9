import type { Logger } from './observability/logger.js';

/**
 * SIGTERM and SIGINT start one ordered stop; the process exits 0 once it
 * completes, 1 if it fails or outlasts `timeoutMs` (the supervisor's grace
 * period should be longer). A second signal does not start a second stop.
 */
export function stopOnSignals(options: { log: Logger; timeoutMs: number; description: string; stop: () => Promise<void> }): void {
  const { log } = options;
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, `shutting down: ${options.description}`);
    const deadline = setTimeout(() => {
      log.error({ timeoutMs: options.timeoutMs }, 'shutdown exceeded its bound; exiting');
      process.exit(1);
    }, options.timeoutMs);
    deadline.unref();
    options.stop().then(() => {
      log.info('stopped cleanly');
      process.exit(0);
    }, (error: unknown) => {
      log.error({ err: error }, 'shutdown failed');
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}
