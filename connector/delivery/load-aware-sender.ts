import { httpSends } from '../observability/metrics.js';
import type { HttpSender, PostOptions, SendResult } from './http-sender.js';

/**
 * Whether a request goes out from the main thread: only while fewer than
 * `inlineBelow` requests are in flight. A lightly loaded deliverer has the
 * event loop to spare, and a lone webhook's sends (one at a time by design)
 * then skip two hops between threads on every round trip; under load the
 * sending threads take the requests and the event loop keeps its CPU for
 * reading, signing and logging.
 */
export function sendsInline(inFlight: number, inlineBelow: number): boolean {
  return inFlight < inlineBelow;
}

/**
 * An HttpSender that sends from this thread (`inline`) while few requests are
 * in flight and through the sending threads (`threaded`) otherwise. Both
 * senders apply the same settings and SSRF guard; an endpoint may have
 * keep-alive connections in both pools. Requests that only wait on a slow
 * endpoint (`waitingAside`, see slow-requests.ts) load neither thread and do
 * not count: otherwise a few slow endpoints, common in production, would send
 * every request of a lightly loaded deliverer through the threads.
 */
export interface LoadAwareSender extends HttpSender {
  /** The same choice, the same count of requests in flight, with `threaded` taking this one's threaded requests (a lane). */
  via(threaded: HttpSender): HttpSender;
}

export function createLoadAwareSender(deps: { inline: HttpSender; threaded: HttpSender; inlineBelow: number; waitingAside?: () => number }): LoadAwareSender {
  let inFlight = 0;
  // Bound once: this runs for every request. Both series exist from the start, at 0.
  const viaMainThread = httpSends.labels({ via: 'main_thread' });
  const viaSendingThread = httpSends.labels({ via: 'sending_thread' });
  viaMainThread.inc(0);
  viaSendingThread.inc(0);
  // Counted once answered, so a request taken back unsent (its partition went elsewhere) is no send.
  const answered = (via: typeof viaMainThread) => (sent: SendResult): SendResult => {
    inFlight -= 1;
    if (sent.withdrawn !== true) via.inc();
    return sent;
  };
  const answeredInline = answered(viaMainThread);
  const answeredThreaded = answered(viaSendingThread);
  const failed = (error: unknown): never => {
    inFlight -= 1;
    throw error;
  };
  const post = (threaded: HttpSender, url: string, headers: Record<string, string>, body: string, options?: PostOptions): Promise<SendResult> => {
    const inline = sendsInline(inFlight - (deps.waitingAside?.() ?? 0), deps.inlineBelow);
    inFlight += 1;
    // post never rejects (a failure is an answer), but the count must follow a broken sender too.
    return (inline ? deps.inline : threaded).post(url, headers, body, options).then(inline ? answeredInline : answeredThreaded, failed);
  };
  return {
    post: (url, headers, body, options) => post(deps.threaded, url, headers, body, options),
    via: (threaded) => ({ post: (url, headers, body, options) => post(threaded, url, headers, body, options), close: async () => undefined }),
    async close() {
      await Promise.all([deps.inline.close(), deps.threaded.close()]);
    },
  };
}
