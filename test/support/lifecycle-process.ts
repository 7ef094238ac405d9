// A process that owns an ordered stop, as the connector's main does: `fatal` reports a fatal error once
// running; `signal` waits for SIGTERM; `rejection` and `exception` fail as a bug would, with an error nothing
// catches. Each prints what its stop did, for test/unit/lifecycle.test.ts.
import { stopOnSignals } from '../../connector/lifecycle.js';
import { createRootLogger } from '../../connector/observability/logger.js';

const log = createRootLogger({ level: 'info' });
const stopOnFatal = stopOnSignals({
  log,
  timeoutMs: 5000,
  description: 'test parts',
  stop: async () => {
    await new Promise((resolve) => setTimeout(resolve, 20));
    process.stdout.write('parts stopped\n');
  },
});
setInterval(() => undefined, 1000); // stays up until stopped
process.stdout.write('running\n');
if (process.argv[2] === 'fatal') {
  setTimeout(() => {
    stopOnFatal(new Error('the deliverer consumer was given up'));
    stopOnFatal(new Error('a second report starts no second stop'));
  }, 10);
}
if (process.argv[2] === 'rejection') setTimeout(() => void Promise.reject(new Error('a rejection nothing handled')), 10);
if (process.argv[2] === 'exception') {
  setTimeout(() => {
    throw new Error('an exception nothing caught');
  }, 10);
}
