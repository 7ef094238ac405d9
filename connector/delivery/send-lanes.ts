/**
 * Requests on the wire, bounded per lane, inside a sending thread. A lane is
 * one deliverer's share (first attempts, or one retry tier): at most `cap` of
 * its requests are open at once; the rest wait here, in the order they came,
 * and go out as soon as one is answered, without waiting for the main thread.
 *
 * Why here and not on the main thread: the main thread reads tasks, logs
 * attempts and commits in stretches of milliseconds. Bounding requests there
 * meant a request slot freed only once the main thread had seen the answer,
 * so while it was busy the endpoint connections stood idle with every slot
 * taken (measured: 0.44–0.46 of the raw loop at 64 slots, 0.53–0.57 so).
 *
 * Slowness is judged here too, by time on the wire (a request waiting for
 * room is not slow, its endpoint has not seen it): a request open for
 * `slowAfterMs` is reported once (`onSlow`: the deliverer then lets its task
 * wait without a slot, see slow-requests.ts) and stops counting against its
 * lane's cap, at most `maxAside` at once; past that it keeps its place until
 * one of those is answered. Otherwise as many slow endpoints as the cap would
 * hold every other webhook's requests here.
 */
export interface SendLanes<R, A> {
  /** Sets a lane's cap (requests open at once); a lane never configured has none. */
  configure(lane: number, cap: number): void;
  /** Sends the request now if its lane has room, or once it has; resolves with the answer. */
  submit(lane: number, request: R): Promise<A>;
  /**
   * Takes the requests still waiting for room that `matches` picks out of their lanes, unsent: their `submit`
   * rejects with Withdrawn. Requests already out are not stopped. Returns how many it took.
   */
  withdraw(matches: (request: R) => boolean): number;
  /** Requests waiting for room, across lanes. */
  readonly queued: number;
  /** Entries the lanes' queues hold, those already sent but not yet cut away included (a diagnostic of memory). */
  readonly retained: number;
  /** Stops the timer that judges slow requests (the thread is closing). */
  close(): void;
}

export interface SendLanesOptions<R> {
  /** 0: no request is ever slow, and each keeps its place until answered. */
  slowAfterMs: number;
  maxAside: number;
  /** Called once for each request open past slowAfterMs. */
  onSlow?: (request: R) => void;
  now?: () => number;
}

/** What `submit` rejects with for a request withdrawn unsent. */
export class Withdrawn extends Error {
  constructor() {
    super('withdrawn before it was sent');
    this.name = 'Withdrawn';
  }
}

/** Requests sent from the front of a lane's queue before the array is cut down to what still waits. */
const COMPACT_AFTER = 1024;

interface Open<R> {
  request: R;
  started: number;
  /** Open past slowAfterMs, and reported so. */
  slow: boolean;
  /** Released from its lane's cap as slow: no longer counted there when answered. */
  aside: boolean;
}

interface Waiting<R, A> {
  request: R;
  resolve: (answer: A) => void;
  reject: (error: unknown) => void;
}

interface Lane<R, A> {
  cap: number;
  /** Requests counted against the cap, oldest first (a Map keeps insertion order). */
  open: Map<number, Open<R>>;
  waiting: Array<Waiting<R, A>>;
  /** Index of the first waiting request: shifting a long array for each one sent would copy it every time. */
  head: number;
}

export function createSendLanes<R, A>(send: (request: R) => Promise<A>, options: SendLanesOptions<R>): SendLanes<R, A> {
  const now = options.now ?? (() => performance.now());
  const lanes = new Map<number, Lane<R, A>>();
  let nextOpenId = 0;
  let aside = 0;
  let queued = 0;
  let sweepTimer: NodeJS.Timeout | undefined;
  let closed = false;

  const laneOf = (id: number): Lane<R, A> => {
    let lane = lanes.get(id);
    if (!lane) {
      lane = { cap: Number.POSITIVE_INFINITY, open: new Map(), waiting: [], head: 0 };
      lanes.set(id, lane);
    }
    return lane;
  };

  const start = (lane: Lane<R, A>, item: Waiting<R, A>): void => {
    const openId = nextOpenId++;
    const entry: Open<R> = { request: item.request, started: now(), slow: false, aside: false };
    lane.open.set(openId, entry);
    const settle = (): void => {
      if (!entry.aside) {
        lane.open.delete(openId);
        return pump(lane);
      }
      aside -= 1;
      // Room aside again: a slow request that kept its place may take it, which frees a place in its lane.
      if (aside === options.maxAside - 1) sweep();
      else armSweep();
    };
    let sent: Promise<A>;
    try {
      sent = send(item.request);
    } catch (error) {
      sent = Promise.reject(error);
    }
    sent.then((answer) => {
      settle();
      item.resolve(answer);
    }, (error: unknown) => {
      settle();
      item.reject(error);
    });
  };

  const pump = (lane: Lane<R, A>): void => {
    while (lane.open.size < lane.cap && lane.head < lane.waiting.length) {
      const item = lane.waiting[lane.head]!;
      lane.waiting[lane.head] = undefined as unknown as Waiting<R, A>;
      lane.head += 1;
      queued -= 1;
      start(lane, item);
    }
    if (lane.head === lane.waiting.length) {
      lane.waiting.length = 0;
      lane.head = 0;
    } else if (lane.head >= COMPACT_AFTER && lane.head * 2 >= lane.waiting.length) {
      // Under steady load the queue may never empty: what was sent goes, or the array would grow for good.
      lane.waiting = lane.waiting.slice(lane.head);
      lane.head = 0;
    }
    armSweep();
  };

  /**
   * Reports requests open past slowAfterMs, releases them from their lanes' caps while fewer than maxAside are
   * released, sends what then has room, and arms the timer for the next request to turn slow.
   */
  const sweep = (): void => {
    clearTimeout(sweepTimer);
    sweepTimer = undefined;
    const at = now();
    for (const lane of lanes.values()) {
      let released = false;
      // Oldest first: the first one not slow yet ends the look.
      for (const [openId, entry] of lane.open) {
        if (at - entry.started < options.slowAfterMs) break;
        if (!entry.slow) {
          entry.slow = true;
          options.onSlow?.(entry.request);
        }
        if (aside >= options.maxAside) continue;
        entry.aside = true;
        aside += 1;
        lane.open.delete(openId);
        released = true;
      }
      if (released) pump(lane);
    }
    armSweep();
  };

  /** Arms the timer for the oldest open request not yet slow, across lanes (none armed, none needed: no timer). */
  const armSweep = (): void => {
    if (sweepTimer || closed || options.slowAfterMs <= 0) return;
    let oldest = Number.POSITIVE_INFINITY;
    for (const lane of lanes.values()) {
      for (const entry of lane.open.values()) {
        if (entry.slow) continue;
        if (entry.started < oldest) oldest = entry.started;
        break;
      }
    }
    if (oldest === Number.POSITIVE_INFINITY) return;
    sweepTimer = setTimeout(sweep, Math.max(0, oldest + options.slowAfterMs - now()));
  };

  return {
    configure(lane, cap) {
      const state = laneOf(lane);
      state.cap = Math.max(1, cap);
      pump(state);
    },
    submit(laneId, request) {
      const lane = laneOf(laneId);
      return new Promise<A>((resolve, reject) => {
        const item = { request, resolve, reject };
        if (lane.open.size < lane.cap && lane.head === lane.waiting.length) {
          start(lane, item);
          return armSweep();
        }
        lane.waiting.push(item);
        queued += 1;
      });
    },
    withdraw(matches) {
      let taken = 0;
      for (const lane of lanes.values()) {
        if (lane.head === lane.waiting.length) continue;
        const kept: Array<Waiting<R, A>> = [];
        for (let k = lane.head; k < lane.waiting.length; k += 1) {
          const item = lane.waiting[k]!;
          if (!matches(item.request)) {
            kept.push(item);
            continue;
          }
          taken += 1;
          queued -= 1;
          item.reject(new Withdrawn());
        }
        lane.waiting = kept;
        lane.head = 0;
      }
      return taken;
    },
    get queued() {
      return queued;
    },
    get retained() {
      let entries = 0;
      for (const lane of lanes.values()) entries += lane.waiting.length;
      return entries;
    },
    close() {
      closed = true;
      clearTimeout(sweepTimer);
      sweepTimer = undefined;
    },
  };
}
