import type { HttpSender } from './http-sender.js';
import { createLoadAwareSender } from './load-aware-sender.js';
import type { ThreadedHttpSender } from './threaded-sender.js';

/** How a deliverer process sends: the settings the choice depends on (config `deliverer.*`). */
export interface SendingSettings {
  httpThreads: number;
  httpInlineBelow: number;
  maxInFlight: number;
}

export interface SendingPlan {
  /** The process's sender: the one closed at shutdown. */
  sender: HttpSender;
  /** A sender for one deliverer (first attempts, or a retry tier) whose requests are open `cap` at most at once. */
  lane(cap: number): HttpSender;
  /**
   * Tasks a deliverer may have signed and waiting for one of its lane's slots: `ahead` where requests wait in
   * sending threads, 0 where the main thread sends them all (a slot there is the task's own).
   */
  aheadOf(ahead: number): number;
}

/**
 * Threads or not, and which requests leave from the main thread (see
 * load-aware-sender.ts). With threads, each deliverer's requests are bounded
 * in the threads (see send-lanes.ts), so its own slots may run ahead of them.
 */
export function sendingPlan(
  settings: SendingSettings, inline: () => HttpSender, threaded: () => ThreadedHttpSender, waitingAside: () => number,
): SendingPlan {
  if (settings.httpThreads === 0) {
    // The deliverer's slots bound its requests: each runs on this thread from signing to answer.
    const sender = inline();
    return { sender, lane: () => sender, aheadOf: () => 0 };
  }
  const threads = threaded();
  if (settings.httpInlineBelow === 0) return { sender: threads, lane: (cap) => threads.lane(cap), aheadOf: (ahead) => ahead };
  const sender = createLoadAwareSender({ inline: inline(), threaded: threads, inlineBelow: settings.httpInlineBelow, waitingAside });
  // At or above the slots every first attempt leaves from the main thread: none would wait in the threads.
  const allInline = settings.httpInlineBelow >= settings.maxInFlight;
  return { sender, lane: (cap) => sender.via(threads.lane(cap)), aheadOf: (ahead) => (allInline ? 0 : ahead) };
}
