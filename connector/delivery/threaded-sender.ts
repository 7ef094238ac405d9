import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { HttpSender, PostOptions, SendResult } from './http-sender.js';

/** What a sending thread needs to build its own sender: plain data, as a guard object cannot cross threads. */
export interface SendingThreadSettings {
  allowPlainHttp: boolean;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  maxResponseBytes: number;
  ssrfAllowlist: readonly string[];
  /** A request open this long stops counting against its lane's cap (0, the default: never); see send-lanes.ts. */
  slowAfterMs?: number;
  /** Requests released so, at most at once per thread (default: no bound). */
  maxAside?: number;
}

/** Requests to a thread, [id, lane, url, headers, body, withdrawal group (0: none)] each. */
export type RequestBatch = Array<[number, number, string, Record<string, string>, string, number]>;
/** What a thread is sent: requests, a lane's cap (before the lane's first request), or 'close', once. */
export type ThreadMessage = RequestBatch | { lane: number; cap: number } | { withdraw: number } | 'close';
/** In place of a result: the request has been open DELIVERER_SLOW_REQUEST_MS (see send-lanes.ts); its answer comes later. */
export const SLOW = 0;
/** Answers from a thread: [id, result] each, or [id, SLOW]. */
export type ResultBatch = Array<[number, SendResult | typeof SLOW]>;

export interface ThreadedSenderOptions {
  threads: number;
  /** A thread that fails or exits on its own: the process cannot send any more and must stop. */
  onFatal: (error: Error) => void;
  /** How long close waits for a thread to finish before stopping it. */
  closeTimeoutMs?: number;
  /** Requests a batch holds at most before it goes, within the turn (default FLUSH_EVERY). */
  flushEvery?: number;
}

/**
 * Requests to a thread go in a batch once this many are gathered, not only at
 * the end of the turn. The main thread's turns run long under load (one
 * reads every answer that arrived, running each task's next step; a fetch
 * decodes thousands of tasks), and a batch held to the turn's end left the
 * thread idle meanwhile, having sent everything it held: about a third of
 * its samples found nothing open and nothing waiting. Sixteen costs a
 * message per sixteen requests and raised the benchmark's throughput ratio
 * from about 0.52 to 0.57 (bench/delivery.ts, deliverer as a process); 4 and
 * 64 did no better.
 */
export const FLUSH_EVERY = 16;

const THREAD_FAILED = 'SENDER_THREAD_FAILED';
/** The answer to a request taken back before it went out (PostOptions.withdrawOn), in a thread or before reaching one. */
export const WITHDRAWN: SendResult = {
  result: { kind: 'error', code: 'WITHDRAWN', message: 'not sent: taken back before it went out', retryable: true },
  responseExcerpt: '',
  durationMs: 0,
  withdrawn: true,
};

export interface ThreadedHttpSender extends HttpSender {
  /** The sending threads, for diagnostics (thread ids, heap snapshots). */
  readonly threads: readonly Worker[];
  /**
   * A sender whose requests are open `cap` at most at once in each thread; the rest wait in their thread for room
   * (see send-lanes.ts). `post` itself has no cap. Closing a lane does nothing: this sender's owner closes the threads.
   */
  lane(cap: number): HttpSender;
}

/** tsx's ESM API entry (its CommonJS one cannot register hooks from an eval'd worker), from its package exports. */
function tsxEsmApi(): string {
  const require = createRequire(import.meta.url);
  const manifestPath = require.resolve('tsx/package.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { exports: Record<string, { import: { default: string } }> };
  return resolvePath(dirname(manifestPath), manifest.exports['./esm/api']!.import.default);
}

/**
 * A sending thread: the compiled module next to this one, as deployed; or,
 * where the connector runs from its TypeScript sources (tests, `npm run
 * connector`), the source module loaded through tsx's API, since loader flags
 * given to a worker (`--import tsx`) do not reach its imports on Node 20.
 */
function startThread(settings: SendingThreadSettings): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./http-sender-thread.js', import.meta.url), { workerData: settings, name: 'http-sender' });
  const tsxApi = pathToFileURL(tsxEsmApi()).href;
  const source = new URL('./http-sender-thread.ts', import.meta.url).href;
  const load = `import(${JSON.stringify(tsxApi)}).then(({ tsImport }) => tsImport(${JSON.stringify(source)}, ${JSON.stringify(import.meta.url)}))`;
  return new Worker(load, { eval: true, workerData: settings, name: 'http-sender' });
}

/** FNV-1a of a URL: which thread sends to it, so an endpoint's keep-alive connections stay in one pool. */
function threadOf(url: string, threads: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < url.length; i += 1) hash = Math.imul(hash ^ url.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % threads;
}

interface SendingThread {
  worker: Worker;
  outbox: RequestBatch;
  /** A send of the outbox at the end of this turn is due. */
  flushScheduled: boolean;
  exited: boolean;
}

/**
 * An HttpSender whose HTTP exchanges run on threads of their own (usually
 * one). Writing requests, parsing answers, TLS and socket work were about
 * half of a deliverer's main-thread CPU; on their own thread they use a
 * second core while the main thread reads tasks, signs, decides and logs
 * attempts (measured: 52–65 µs of main-thread CPU per delivery against
 * 110–138 µs; the whole process about the same, 102–143 µs against 114–152).
 *
 * Requests and answers cross in batches, a message each way per turn of the
 * event loop (requests, every FLUSH_EVERY as well): a message costs
 * microseconds of its own. A thread that dies answers its requests in
 * flight as a retryable failure (whether the endpoint got them is unknown:
 * at least once, as after a crash) and stops the process through onFatal,
 * so it restarts rather than failing every delivery from then on.
 */
export function createThreadedHttpSender(settings: SendingThreadSettings, options: ThreadedSenderOptions): ThreadedHttpSender {
  const waiting = new Map<number, (result: SendResult) => void>();
  /** Requests whose sender wants to hear they are slow, until answered. */
  const slowWatchers = new Map<number, () => void>();
  /**
   * The withdrawal group of each withdrawOn signal not yet aborted (a partition's: one listener each). Requests
   * carry their group; when its signal aborts, the threads take back what of the group still waits.
   */
  const withdrawalGroups = new Map<AbortSignal, number>();
  let nextGroup = 1;
  let nextId = 0;
  let closing = false;
  let failure: Error | null = null;

  const failed = (message: string): SendResult => ({ result: { kind: 'error', code: THREAD_FAILED, message, retryable: true }, responseExcerpt: '', durationMs: 0 });
  const fail = (error: Error): void => {
    if (closing || failure) return;
    failure = error;
    const answer = failed(error.message);
    for (const resolve of waiting.values()) resolve(answer);
    waiting.clear();
    slowWatchers.clear();
    options.onFatal(error);
  };

  const threads: SendingThread[] = Array.from({ length: Math.max(1, options.threads) }, () => {
    const worker = startThread(settings);
    worker.on('message', (answers: ResultBatch) => {
      for (const [id, result] of answers) {
        if (result === SLOW) {
          slowWatchers.get(id)?.();
          continue;
        }
        const resolve = waiting.get(id);
        waiting.delete(id);
        if (slowWatchers.size > 0) slowWatchers.delete(id);
        resolve?.(result);
      }
    });
    worker.on('error', (error) => fail(new Error(`the HTTP sending thread failed: ${error.message}`, { cause: error })));
    const thread: SendingThread = { worker, outbox: [], flushScheduled: false, exited: false };
    worker.on('exit', (code) => {
      thread.exited = true;
      fail(new Error(`the HTTP sending thread exited (code ${code})`));
    });
    return thread;
  });

  let nextLane = 1;

  /** The signal's group, made at its first request: its abort asks every thread to take back what of it still waits. */
  const groupOf = (signal: AbortSignal): number => {
    let group = withdrawalGroups.get(signal);
    if (group === undefined) {
      const made = nextGroup++;
      group = made;
      withdrawalGroups.set(signal, made);
      signal.addEventListener('abort', () => {
        withdrawalGroups.delete(signal);
        // After the turn's batch: requests posted in the turn of the abort reach the thread first.
        setImmediate(() => {
          if (failure || closing) return;
          const message: ThreadMessage = { withdraw: made };
          for (const { worker, exited } of threads) if (!exited) worker.postMessage(message);
        });
      }, { once: true });
    }
    return group;
  };

  const flushEvery = Math.max(1, options.flushEvery ?? FLUSH_EVERY);
  const flush = (thread: SendingThread): void => {
    const batch = thread.outbox;
    // Sent already, full before the turn ended.
    if (batch.length === 0) return;
    thread.outbox = [];
    try {
      thread.worker.postMessage(batch);
    } catch (error) {
      // A batch the thread cannot be given (nothing in one should fail to copy): its requests, and every other one
      // waiting, are answered as failed and the process stops, rather than leaving them unanswered.
      fail(new Error(`a batch of requests could not be handed to the HTTP sending thread: ${(error as Error).message}`, { cause: error }));
    }
  };
  const flushAtTurnEnd = (thread: SendingThread): void => {
    thread.flushScheduled = false;
    flush(thread);
  };

  const post = (lane: number, url: string, headers: Record<string, string>, body: string, postOptions?: PostOptions): Promise<SendResult> => {
    if (failure) return Promise.resolve(failed(failure.message));
    if (closing) return Promise.resolve(failed('the HTTP sender is closed'));
    const withdrawOn = postOptions?.withdrawOn;
    if (withdrawOn?.aborted) return Promise.resolve(WITHDRAWN);
    const thread = threads.length === 1 ? threads[0]! : threads[threadOf(url, threads.length)]!;
    const id = nextId++;
    // Waiting before it is handed over: a hand-over that fails answers every request waiting (fail).
    const answered = new Promise<SendResult>((resolve) => waiting.set(id, resolve));
    if (postOptions?.onSlow) slowWatchers.set(id, postOptions.onSlow);
    // A batch goes once the turn is over, or as soon as it is full. Either way a request goes before a withdrawal
    // of its group: that is posted a turn after the abort, and no request of an aborted group is taken (above).
    if (!thread.flushScheduled) {
      thread.flushScheduled = true;
      setImmediate(flushAtTurnEnd, thread);
    }
    thread.outbox.push([id, lane, url, headers, body, withdrawOn ? groupOf(withdrawOn) : 0]);
    if (thread.outbox.length >= flushEvery) flush(thread);
    return answered;
  };

  return {
    threads: threads.map((thread) => thread.worker),
    post: (url, headers, body, postOptions) => post(0, url, headers, body, postOptions),
    lane(cap) {
      const lane = nextLane++;
      // Sent now, before the lane exists for anyone to post to: a thread knows the cap before the lane's first request.
      // Whole in each thread: an endpoint keeps to one thread, and a split cap would leave a deliverer whose traffic
      // goes to few endpoints a fraction of its slots.
      for (const { worker, exited } of threads) if (!exited) worker.postMessage({ lane, cap });
      return { post: (url, headers, body, postOptions) => post(lane, url, headers, body, postOptions), close: async () => undefined };
    },
    async close() {
      closing = true;
      await Promise.all(threads.map(async ({ worker, exited: already }) => {
        if (already) return;
        const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
        worker.postMessage('close');
        // Its connections close first; a thread that does not end in time is stopped.
        const timer = setTimeout(() => void worker.terminate(), options.closeTimeoutMs ?? 5000);
        await exited;
        clearTimeout(timer);
      }));
      // Requests still waiting (none after an orderly shutdown) get an answer rather than hang.
      const answer = failed('the HTTP sender was closed');
      for (const resolve of waiting.values()) resolve(answer);
      waiting.clear();
      slowWatchers.clear();
    },
  };
}
