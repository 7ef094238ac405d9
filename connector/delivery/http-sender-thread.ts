import { parentPort, workerData } from 'node:worker_threads';
import { createHttpSender } from './http-sender.js';
import { createSsrfGuard } from './ssrf-guard.js';
import type { RequestBatch, ResultBatch, SendingThreadSettings } from './threaded-sender.js';

/**
 * A sending thread of createThreadedHttpSender: a plain HttpSender, with its
 * own keep-alive pools and SSRF guard, fed requests and answering in batches
 * (one message per turn of its event loop).
 */
const settings = workerData as SendingThreadSettings;
const sender = createHttpSender({ ...settings, guard: createSsrfGuard(settings.ssrfAllowlist) });
const port = parentPort!;
let answers: ResultBatch = [];

const flush = (): void => {
  const batch = answers;
  answers = [];
  port.postMessage(batch);
};
const answer = (id: number, result: Awaited<ReturnType<typeof sender.post>>): void => {
  if (answers.length === 0) setImmediate(flush);
  answers.push([id, result]);
};

port.on('message', (message: RequestBatch | 'close') => {
  // Closing ends the thread once its connections are closed: nothing else keeps it alive.
  if (message === 'close') return void sender.close().finally(() => port.close());
  // post always resolves, a failure being an answer like any other.
  for (const [id, url, headers, body] of message) void sender.post(url, headers, body).then((result) => answer(id, result));
});
