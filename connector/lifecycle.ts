import type { Logger } from './observability/logger.js';

/**
 * SIGTERM and SIGINT start one ordered stop; the process exits 0 once it
 * completes, 1 if it fails or outlasts `timeoutMs` (the supervisor's grace
 * period should be longer). A second signal does not start a second stop.
 * The function returned starts the same stop for a fatal error (a consumer
 * kafkajs gave up): the process then exits 1 so its supervisor restarts it,
 * rather than run on healthy to every probe while consuming nothing. An
 * error nothing caught (a rejected promise, an exception) does the same.
 */
export function stopOnSignals(options: { log: Logger; timeoutMs: number; description: string; stop: () => Promise<void> }): (error: unknown) => void {
  const { log } = options;
  let stopping = false;
  const shutdown = (signal: string, fatalError?: unknown): void => {
    if (stopping) return;
    stopping = true;
    if (fatalError === undefined) log.info({ signal }, `shutting down: ${options.description}`);
    else log.fatal({ err: fatalError }, `cannot go on; shutting down to be restarted: ${options.description}`);
    const exitCode = fatalError === undefined ? 0 : 1;
    const deadline = setTimeout(() => {
      log.error({ timeoutMs: options.timeoutMs }, 'shutdown exceeded its bound; exiting');
      process.exit(1);
    }, options.timeoutMs);
    deadline.unref();
    options.stop().then(() => {
      log.info('stopped cleanly');
      process.exit(exitCode);
    }, (error: unknown) => {
      log.error({ err: error }, 'shutdown failed');
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  // A bug's error nothing caught ends the process as a fatal error does: in order, consumers leaving their groups,
  // rather than at once with nothing committed. One during the stop is logged; the stop goes on.
  const unexpected = (what: string) => (error: unknown): void => {
    if (stopping) log.error({ err: error }, `${what} while shutting down`);
    else shutdown(what, error);
  };
  process.on('unhandledRejection', unexpected('unhandled rejection'));
  process.on('uncaughtException', unexpected('uncaught exception'));
  return (error) => shutdown('fatal error', error);
}

/**
 * For roles run inside another program (tests, benchmarks), which own no
 * ordered stop: a fatal error becomes an uncaught exception, never silence.
 */
export function throwFatal(error: unknown): void {
  setImmediate(() => {
    throw error;
  });
}
