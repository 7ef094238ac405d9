import { parentPort, workerData } from 'node:worker_threads';
import { createHttpSender, type SendResult } from './http-sender.js';
import { createSendLanes, Withdrawn } from './send-lanes.js';
import { createSsrfGuard } from './ssrf-guard.js';
import { SLOW, WITHDRAWN, type ThreadMessage, type SendingThreadSettings } from './threaded-sender.js';
import { createAnswerBatch } from './answer-batch.js';

/**
 * A sending thread of createThreadedHttpSender: a plain HttpSender, with its
 * own keep-alive pools and SSRF guard, fed requests and answering in batches
 * (one message per turn of its event loop). Requests wait in their lane here
 * while it is full (see send-lanes.ts).
 */
const settings = workerData as SendingThreadSettings;
const sender = createHttpSender({ ...settings, guard: createSsrfGuard(settings.ssrfAllowlist) });
const port = parentPort!;
/** Requests as lanes hold them: [id, url, headers, body, withdrawal group]. */
type Held = [number, string, Record<string, string>, string, number];
const answers = createAnswerBatch((batch) => port.postMessage(batch), (flush) => setImmediate(flush));
const lanes = createSendLanes<Held, SendResult>(([, url, headers, body]) => sender.post(url, headers, body), {
  slowAfterMs: settings.slowAfterMs ?? 0,
  maxAside: settings.maxAside ?? Number.POSITIVE_INFINITY,
  // Told with the answers: the request's task may wait without one of the deliverer's slots.
  onSlow: ([id]) => answers.add(id, SLOW),
});

const failed = (error: unknown): SendResult => ({
  result: { kind: 'error', code: 'REQUEST_FAILED', message: error instanceof Error ? error.message : String(error), retryable: true },
  responseExcerpt: '',
  durationMs: 0,
});

port.on('message', (message: ThreadMessage) => {
  // Closing ends the thread once its connections are closed: nothing else keeps it alive.
  if (message === 'close') {
    // Requests still waiting in a lane were never sent: taken back, as when their partition goes (their tasks stay
    // uncommitted), rather than sent to a closing pool, whose refusal would count against their webhooks.
    lanes.withdraw(() => true);
    lanes.close();
    // Open requests are answered as the pool closes; those answers go out before the port closes, not lost with it.
    return void sender.close().finally(() => {
      answers.flushNow();
      port.close();
    });
  }
  if (!Array.isArray(message)) {
    if ('withdraw' in message) return void lanes.withdraw(([, , , , group]) => group === message.withdraw);
    return lanes.configure(message.lane, message.cap);
  }
  // post always resolves, a failure being an answer like any other; a lane rejects only what it withdrew.
  for (const [id, lane, url, headers, body, group] of message) {
    void lanes.submit(lane, [id, url, headers, body, group]).then((result) => answers.add(id, result), (error: unknown) => answers.add(id, error instanceof Withdrawn ? WITHDRAWN : failed(error)));
  }
});
