import { httpSends } from '../observability/metrics.js';
import type { HttpSender, PostOptions } from './http-sender.js';

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
  const settled = (): void => {
    inFlight -= 1;
  };
  const post = (threaded: HttpSender, url: string, headers: Record<string, string>, body: string, options?: PostOptions): ReturnType<HttpSender['post']> => {
    const inline = sendsInline(inFlight - (deps.waitingAside?.() ?? 0), deps.inlineBelow);
    (inline ? viaMainThread : viaSendingThread).inc();
    const sender = inline ? deps.inline : threaded;
    inFlight += 1;
    // post never rejects (a failure is an answer), but the count must follow a broken sender too.
    return sender.post(url, headers, body, options).finally(settled);
  };
  return {
    post: (url, headers, body, options) => post(deps.threaded, url, headers, body, options),
    via: (threaded) => ({ post: (url, headers, body, options) => post(threaded, url, headers, body, options), close: async () => undefined }),
    async close() {
      await Promise.all([deps.inline.close(), deps.threaded.close()]);
    },
  };
}
