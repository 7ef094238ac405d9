import { describe, expect, it } from 'vitest';
import type { HttpSender } from '../../connector/delivery/http-sender.js';
import { sendingPlan } from '../../connector/delivery/sending-plan.js';
import type { ThreadedHttpSender } from '../../connector/delivery/threaded-sender.js';

/** Senders that record which one a request went to; the threaded one records each lane's cap. */
function senders() {
  const used: string[] = [];
  const lanes: number[] = [];
  const named = (name: string): HttpSender => ({
    post: async () => {
      used.push(name);
      return { result: { kind: 'response', status: 204 }, responseExcerpt: '', durationMs: 0 };
    },
    close: async () => undefined,
  });
  const inline = (): HttpSender => named('inline');
  const threaded = (): ThreadedHttpSender => Object.assign(named('threaded'), {
    threads: [],
    lane: (cap: number) => {
      lanes.push(cap);
      return named(`lane of ${cap}`);
    },
  });
  return { used, lanes, inline, threaded };
}

describe('the sending plan', () => {
  it('signs tasks ahead only where they wait in sending threads, and sends each deliverer\'s requests through its own lane', async () => {
    const s = senders();
    const plan = sendingPlan({ httpThreads: 1, httpInlineBelow: 0, maxInFlight: 64 }, s.inline, s.threaded, () => 0);
    expect(plan.aheadOf(128)).toBe(128);
    await plan.lane(64).post('https://a.example/', {}, '');
    await plan.lane(16).post('https://a.example/', {}, '');
    expect(s.lanes).toEqual([64, 16]);
    expect(s.used).toEqual(['lane of 64', 'lane of 16']);
  });

  it('signs nothing ahead without threads: the main thread sends, and a slot is the task\'s own from signing to answer', async () => {
    const s = senders();
    const plan = sendingPlan({ httpThreads: 0, httpInlineBelow: 4, maxInFlight: 64 }, s.inline, s.threaded, () => 0);
    expect(plan.aheadOf(128)).toBe(0);
    await plan.lane(64).post('https://a.example/', {}, '');
    expect(s.used).toEqual(['inline']);
    expect(s.lanes).toEqual([]);
  });

  it('sends from the main thread under light load and through the lane beyond it; signs nothing ahead when every first attempt leaves from the main thread', async () => {
    const s = senders();
    const plan = sendingPlan({ httpThreads: 1, httpInlineBelow: 1, maxInFlight: 64 }, s.inline, s.threaded, () => 0);
    expect(plan.aheadOf(128)).toBe(128);
    const lane = plan.lane(64);
    // The first request finds none in flight: inline. The second finds one: through the lane.
    await Promise.all([lane.post('https://a.example/', {}, ''), lane.post('https://a.example/', {}, '')]);
    expect(s.used).toEqual(['inline', 'lane of 64']);
    const allInline = sendingPlan({ httpThreads: 1, httpInlineBelow: 4, maxInFlight: 4 }, s.inline, s.threaded, () => 0);
    expect(allInline.aheadOf(128)).toBe(0);
  });
});
