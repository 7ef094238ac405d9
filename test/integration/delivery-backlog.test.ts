import { afterEach, describe, expect, inject, it } from 'vitest';
import { deferredTasks, fetchedBytes, newTasksBlocked, readWaits, tasksReadAgain } from '../../connector/observability/metrics.js';
import type { Receiver } from '../../scripts/lib/receiver.js';
import { deliveryScenario, seqs, type DeliveryScenario } from '../support/delivery-scenario.js';
import { waitFor } from '../support/wait.js';

/**
 * One webhook's backlog against the buffer all webhooks share: past
 * DELIVERER_MAX_QUEUED_PER_WEBHOOK its tasks stay in Kafka and are read
 * again as its queue drains. A small buffer (40) and cap (10) on one
 * partition make the held webhook's backlog many times the buffer.
 */
describe('a webhook\'s backlog', () => {
  const services = inject('services');
  let s: DeliveryScenario | undefined;

  afterEach(async () => {
    await s?.close();
    s = undefined;
  });

  /** The small buffer and cap on one partition that the tests below hold a webhook against. */
  const SMALL = { TOPIC_DELIVERIES_PARTITIONS: '1', DELIVERER_MAX_BUFFERED: '40', DELIVERER_MAX_QUEUED_PER_WEBHOOK: '10' };

  /** The deliverer group's commit of the deliveries topic's only partition. */
  const committed = async (scenario: DeliveryScenario): Promise<{ offset: number; metadata: string | null }> => {
    const admin = scenario.kafka.admin();
    await admin.connect();
    try {
      const [topic] = await admin.fetchOffsets({ groupId: scenario.config.deliverer.groupId, topics: [scenario.config.topics.deliveries] });
      const { offset, metadata } = topic!.partitions[0]!;
      return { offset: Number(offset), metadata };
    } finally {
      await admin.disconnect();
    }
  };
  const committedOffset = async (scenario: DeliveryScenario): Promise<number> => (await committed(scenario)).offset;

  /** The receivers hold every request until `release` is called, then answer 204. */
  const holdUntilReleased = (...hooks: Array<{ receiver: Receiver }>): (() => void) => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    for (const hook of hooks) hook.receiver.respondWith(async () => (await released, { status: 204 }));
    return release;
  };

  const deferredNow = async (): Promise<number> => (await deferredTasks.get()).values[0]?.value ?? 0;
  /** How often the scenario's deliverer paused reading its deliveries topic because too many tasks were deferred. */
  const deferredFullWaitsNow = async (scenario: DeliveryScenario): Promise<number> =>
    (await readWaits.get()).values.find((v) => v.labels['topic'] === scenario.config.topics.deliveries && v.labels['reason'] === 'deferred_full')?.value ?? 0;
  /** Whether the scenario's deliverer reads no new tasks of its deliveries topic for too many deferred (1 or 0). */
  const blockedNow = async (scenario: DeliveryScenario): Promise<number | undefined> =>
    (await newTasksBlocked.get()).values.find((v) => v.labels['topic'] === scenario.config.topics.deliveries)?.value;
  /** The process-wide count of deferred tasks read again so far: tests compare it before and after. */
  const readAgainNow = async (): Promise<number> => (await tasksReadAgain.get()).values[0]?.value ?? 0;
  const range = (length: number): number[] => Array.from({ length }, (_, i) => i);

  /** 20 webhooks, 12 tasks each, interleaved as a router leaves them: 240 tasks, six times the SMALL buffer. */
  const interleavedBacklog = async (scenario: DeliveryScenario): Promise<Array<{ receiver: Receiver }>> => {
    const hooks = await Promise.all(Array.from({ length: 20 }, () => scenario.addWebhook()));
    for (let seq = 0; seq < 12; seq += 1) for (const hook of hooks) await scenario.produceTasks(hook.id, 1, 'USER_CREATED', { seq });
    return hooks;
  };
  /** Waits for every webhook of interleavedBacklog to get its 12 tasks, and checks each got them in order. */
  const allDeliveredInOrder = async (hooks: Array<{ receiver: Receiver }>): Promise<void> => {
    await waitFor('every webhook\'s 12 deliveries', () => hooks.every((hook) => hook.receiver.requests.length >= 12), 30_000);
    for (const hook of hooks) expect(seqs(hook.receiver)).toEqual(range(12));
  };

  const distinctIds = (requests: Array<{ headers: Record<string, string | string[] | undefined> }>): number =>
    new Set(requests.map((r) => String(r.headers['webhook-id']))).size;

  it('an endpoint that holds its queue does not stop the other webhooks; its tasks all arrive later, in order, once each', async () => {
    s = await deliveryScenario(services, SMALL);
    const held = await s.addWebhook();
    const other = await s.addWebhook();
    const release = holdUntilReleased(held);
    const readAgainBefore = await readAgainNow();
    await s.startDeliverer();
    // The held webhook's tasks first, then the other's, twice over: 240 held tasks, six times the buffer.
    await s.produceTasks(held.id, 120);
    await s.produceTasks(other.id, 60);
    await s.produceTasks(held.id, 120);
    await s.produceTasks(other.id, 60);

    await waitFor('the other webhook\'s 120 deliveries', () => other.receiver.requests.length >= 120, 30_000);
    expect(held.receiver.requests.length).toBe(1);
    // All but the queued ten (and the one held in flight) stay in Kafka.
    expect(await deferredNow()).toBeGreaterThanOrEqual(200);
    // Nothing is committed past the held webhook's first task.
    expect(await committedOffset(s)).toBeLessThanOrEqual(0);

    release();
    await waitFor('the held webhook\'s 240 deliveries', () => held.receiver.requests.length >= 240, 60_000);
    const expected = [...range(120), ...range(120)];
    expect(seqs(held.receiver)).toEqual(expected);
    expect(distinctIds(held.receiver.requests)).toBe(240);
    expect(seqs(other.receiver)).toEqual([...range(60), ...range(60)]);
    await waitFor('every offset committed', async () => (await committedOffset(s!)) === 360, 15_000);
    expect(await deferredNow()).toBe(0);
    // What waited in Kafka was read again, and counted: all but the ten queued at first (and the one in flight).
    expect(await readAgainNow()).toBeGreaterThanOrEqual(readAgainBefore + 200);
  });

  it('a deliverer that stops takes the tasks it left in Kafka off the deferred gauge', async () => {
    s = await deliveryScenario(services, SMALL);
    const held = await s.addWebhook();
    const release = holdUntilReleased(held);
    const deferredBefore = await deferredNow();
    await s.startDeliverer();
    await s.produceTasks(held.id, 60);
    await waitFor('the held webhook\'s tasks past its queue left in Kafka', async () => (await deferredNow()) >= deferredBefore + 40, 30_000);
    // The request under way is answered once stopping began, so the drain ends without delivering the rest.
    const stopped = s.stopDeliverer();
    release();
    await stopped;
    expect(await deferredNow()).toBe(deferredBefore);
  });

  it('a healthy backlog many times the buffer is read from Kafka once: reading waits for the buffer to drain', async () => {
    // Past 90 % of the buffer each webhook may queue one task (a tenth of its cap), so nearly every task of the
    // interleaved backlog meets a nearly full buffer; left in Kafka, most would be read twice.
    s = await deliveryScenario(services, SMALL);
    const hooks = await interleavedBacklog(s);
    const readAgainBefore = await readAgainNow();
    await s.startDeliverer();

    await allDeliveredInOrder(hooks);
    await waitFor('every offset committed', async () => (await committedOffset(s!)) === 240, 15_000);
    expect(await deferredNow()).toBe(0);
    // Without the wait, 204 of the 240 were read twice. A task still refused after its wait is left in Kafka, so a
    // machine stalled past the wait could leave a few: a tenth is the bound here, not none.
    expect(await readAgainNow()).toBeLessThan(readAgainBefore + 24);
  });

  it('fetches read little past where a partition waits: a bounded fetch reads a healthy backlog about once', async () => {
    // The healthy backlog above: reading stops wherever a task waits for the buffer to drain, and what the fetch brought
    // past it is fetched again. With fetches up to 1 MiB each brings the rest of the partition every time.
    const bytesFetched = async (bound: number): Promise<number> => {
      const scenario = await deliveryScenario(services, { ...SMALL, DELIVERER_FETCH_MAX_BYTES_PER_PARTITION: String(bound) });
      s = scenario;
      const hooks = await interleavedBacklog(scenario);
      await scenario.startDeliverer();
      await allDeliveredInOrder(hooks);
      const bytes = (await fetchedBytes.get()).values.find((v) => v.labels['topic'] === scenario.config.topics.deliveries)?.value ?? 0;
      await scenario.close();
      s = undefined;
      return bytes;
    };
    const unbounded = await bytesFetched(1024 * 1024);
    const bounded = await bytesFetched(8 * 1024);
    // Measured: 490 against 141 kB, the partition holding about 120 kB.
    expect(bounded).toBeGreaterThan(0);
    expect(bounded).toBeLessThan(unbounded / 2);
  });

  it('many held endpoints, each within its cap, do not fill the shared buffer together', async () => {
    // Five held webhooks may queue 10 each, 50 in all: more than the buffer of 40. Past 90 % of the buffer a
    // webhook queues one task only, so the buffer never fills and reading goes on.
    s = await deliveryScenario(services, SMALL);
    const held = await Promise.all(Array.from({ length: 5 }, () => s!.addWebhook()));
    const release = holdUntilReleased(...held);
    const other = await s.addWebhook();
    await s.startDeliverer();
    for (const hook of held) await s.produceTasks(hook.id, 20);
    await s.produceTasks(other.id, 30);

    await waitFor('the other webhook\'s 30 deliveries', () => other.receiver.requests.length >= 30, 30_000);
    expect(seqs(other.receiver)).toEqual(range(30));
    release();
    await waitFor('every held webhook\'s 20 deliveries', () => held.every((hook) => hook.receiver.requests.length >= 20), 60_000);
    for (const hook of held) expect(seqs(hook.receiver)).toEqual(range(20));
    await waitFor('every offset committed', async () => (await committedOffset(s!)) === 130, 15_000);
  });

  it('held endpoints that queued before they slowed down give their queues back to Kafka, so they cannot fill the buffer together', async () => {
    // Twelve held webhooks, read before anything slows down: the first ones queue their cap (10), the rest one task
    // each once the buffer is 90 % full, 44 in all, past the buffer of 40. Only giving back what each held webhook
    // queued, once its request waits aside, lets reading go on to the other webhook's tasks behind them.
    // Held requests never time out here: without the giving back, the other webhook would wait for the release.
    s = await deliveryScenario(services, { ...SMALL, DELIVERER_SLOW_REQUEST_MS: '200', HTTP_REQUEST_TIMEOUT_MS: '120000' });
    const held = await Promise.all(Array.from({ length: 12 }, () => s!.addWebhook()));
    const release = holdUntilReleased(...held);
    const other = await s.addWebhook();
    for (const hook of held) await s.produceTasks(hook.id, 20);
    await s.produceTasks(other.id, 30);
    await s.startDeliverer();

    await waitFor('the other webhook\'s 30 deliveries', () => other.receiver.requests.length >= 30, 20_000);
    expect(seqs(other.receiver)).toEqual(range(30));
    // Each held webhook sent only its first task; the other 19 of each wait in Kafka.
    for (const hook of held) expect(hook.receiver.requests.length).toBe(1);
    expect(await deferredNow()).toBe(12 * 19);
    release();
    await waitFor('every held webhook\'s 20 deliveries', () => held.every((hook) => hook.receiver.requests.length >= 20), 60_000);
    for (const hook of held) expect(seqs(hook.receiver)).toEqual(range(20));
    for (const hook of held) expect(distinctIds(hook.receiver.requests)).toBe(20);
    await waitFor('every offset committed', async () => (await committedOffset(s!)) === 270, 15_000);
    expect(await deferredNow()).toBe(0);
  });

  it('more requests waiting aside on slow endpoints than the buffer holds do not stop reading for the others', async () => {
    // 45 endpoints that never answer while held, one task each: every request waits aside past 200 ms, its task
    // running and so not given back. Counted against the buffer (40), they would stop reading until released.
    s = await deliveryScenario(services, { ...SMALL, DELIVERER_SLOW_REQUEST_MS: '200', HTTP_REQUEST_TIMEOUT_MS: '120000' });
    const slow = await Promise.all(Array.from({ length: 45 }, () => s!.addWebhook()));
    const release = holdUntilReleased(...slow);
    const other = await s.addWebhook();
    await s.startDeliverer();
    try {
      for (const hook of slow) await s.produceTasks(hook.id, 1);
      await waitFor('every slow webhook\'s request sent', () => slow.every((hook) => hook.receiver.requests.length === 1), 20_000);
      await s.produceTasks(other.id, 30);
      await waitFor('the other webhook\'s 30 deliveries', () => other.receiver.requests.length >= 30, 20_000);
      expect(seqs(other.receiver)).toEqual(range(30));
    } finally {
      // Also on failure: the held requests would keep the deliverer from stopping for two minutes.
      release();
    }
    await waitFor('every offset committed', async () => (await committedOffset(s!)) === 45 + 30, 15_000);
    for (const hook of slow) expect(seqs(hook.receiver)).toEqual([0]);
  });

  it('stops reading new tasks once DELIVERER_MAX_DEFERRED wait in Kafka, and goes on as they are read again', async () => {
    s = await deliveryScenario(services, { ...SMALL, DELIVERER_MAX_DEFERRED: '50' });
    const held = await s.addWebhook();
    const other = await s.addWebhook();
    const release = holdUntilReleased(held);
    await s.startDeliverer();
    await s.produceTasks(held.id, 120);
    await s.produceTasks(other.id, 20);
    await waitFor('50 tasks deferred', async () => (await deferredNow()) >= 50, 30_000);
    // Reading stopped there, looking again every 200 ms: through three such looks the other webhook's tasks, behind
    // the held ones, stay unread.
    const looked = await deferredFullWaitsNow(s);
    await waitFor('three more looks at a full deferral', async () => (await deferredFullWaitsNow(s!)) >= looked + 3, 10_000);
    expect(await deferredNow()).toBe(50);
    expect(other.receiver.requests.length).toBe(0);
    // What the WebhooksDelivererReadingStalled alert watches.
    expect(await blockedNow(s)).toBe(1);

    let most = 0;
    const sampler = setInterval(() => void deferredNow().then((value) => (most = Math.max(most, value))), 20);
    release();
    try {
      await waitFor('the other webhook\'s 20 deliveries', () => other.receiver.requests.length >= 20, 60_000);
      await waitFor('the held webhook\'s 120 deliveries', () => held.receiver.requests.length >= 120, 60_000);
    } finally {
      clearInterval(sampler);
    }
    expect(await blockedNow(s)).toBe(0);
    expect(most).toBeLessThanOrEqual(50);
    expect(seqs(held.receiver)).toEqual(range(120));
    expect(seqs(other.receiver)).toEqual(range(20));
    await waitFor('every offset committed', async () => (await committedOffset(s!)) === 140, 15_000);
  });

  it('a strict webhook retrying its first task in place holds only its own tasks, however many arrive meanwhile', async () => {
    s = await deliveryScenario(services, {
      ...SMALL,
      // Retries in place every 500 ms for up to 30 s: the first task is never dead-lettered while the test holds it.
      DELIVERER_RETRY_DELAYS_MS: Array.from({ length: 60 }, () => '500').join(','),
    });
    const strict = await s.addWebhook({ ordering: 'strict' });
    const other = await s.addWebhook();
    let failing = true;
    strict.receiver.respondWith(() => ({ status: failing ? 503 : 204 }));
    await s.startDeliverer();
    await s.produceTasks(strict.id, 100);
    await s.produceTasks(other.id, 100);

    await waitFor('the other webhook\'s 100 deliveries', () => other.receiver.requests.length >= 100, 30_000);
    // Only its first task was tried, again and again.
    expect(new Set(seqs(strict.receiver))).toEqual(new Set([0]));
    // Held by its retry in place, it gave back what it had queued (its cap of 10): all but the task it retries wait in Kafka.
    await waitFor('99 of the strict webhook\'s tasks in Kafka', async () => (await deferredNow()) === 99, 10_000);

    failing = false;
    await waitFor('the strict webhook\'s 100 deliveries', () => new Set(seqs(strict.receiver)).size >= 100, 60_000);
    const accepted = seqs(strict.receiver).filter((seq, i, all) => seq !== 0 || i === all.lastIndexOf(0));
    expect(accepted).toEqual(range(100));
    await waitFor('every offset committed', async () => (await committedOffset(s!)) === 200, 15_000);
  });

  it('more strict webhooks retrying in place than the buffer holds do not stop reading for the others', async () => {
    // 45 strict webhooks, one task each, all failing: each task waits out a 60 s retry in place, running, so it cannot
    // go back to Kafka. Counted against the buffer (40), they would stop reading until their retries came due.
    s = await deliveryScenario(services, { ...SMALL, DELIVERER_RETRY_DELAYS_MS: '60000', DELIVERER_RETRY_JITTER: '0' });
    const strict = await Promise.all(Array.from({ length: 45 }, () => s!.addWebhook({ ordering: 'strict' })));
    for (const hook of strict) hook.receiver.respondWith(() => ({ status: 503 }));
    const other = await s.addWebhook();
    await s.startDeliverer();
    for (const hook of strict) await s.produceTasks(hook.id, 1);
    await waitFor('every strict webhook\'s first attempt', () => strict.every((hook) => hook.receiver.requests.length === 1), 20_000);
    await s.produceTasks(other.id, 30);

    await waitFor('the other webhook\'s 30 deliveries', () => other.receiver.requests.length >= 30, 20_000);
    expect(seqs(other.receiver)).toEqual(range(30));
    for (const hook of strict) expect(hook.receiver.requests.length).toBe(1);
    // The strict webhooks' tasks are still unfinished: nothing is committed past the first of them.
    expect(await committedOffset(s)).toBeLessThanOrEqual(0);
  });

  it('a deliverer restarted while one webhook holds the committed offset does not send the others\' finished tasks again', async () => {
    // A short drain: the held request is given up at shutdown, as a held endpoint's would be.
    s = await deliveryScenario(services, { TOPIC_DELIVERIES_PARTITIONS: '1', SHUTDOWN_TIMEOUT_MS: '6000' });
    const held = await s.addWebhook();
    const other = await s.addWebhook();
    const release = holdUntilReleased(held);
    await s.startDeliverer();
    await s.produceTasks(held.id, 5);
    await s.produceTasks(other.id, 50);
    await waitFor('the other webhook\'s 50 deliveries', () => other.receiver.requests.length >= 50, 30_000);
    // The commit stays at the held task, with the progress above it.
    await waitFor('progress committed above the held task', async () => {
      const { offset, metadata } = await committed(s!);
      return offset === 0 && (metadata ?? '').startsWith('p1:');
    }, 15_000);

    await s.stopDeliverer();
    await s.startDeliverer();
    release();
    await waitFor('the held webhook\'s 5 tasks', () => new Set(seqs(held.receiver)).size >= 5, 30_000);
    await waitFor('every offset committed', async () => (await committedOffset(s!)) === 55, 15_000);
    // Read again from the held task, the other webhook's 50 were skipped as finished.
    expect(other.receiver.requests.length).toBe(50);
    // The held task was in flight at the stop: sent once before it and once again after; then the rest, in order.
    expect(seqs(held.receiver)).toEqual([0, 0, 1, 2, 3, 4]);
  });

  it('a stop during a strict webhook\'s retry in place sends none of its later tasks before the one it retries', async () => {
    // The strict webhook's first task waits out a 60 s retry in place; held, it keeps a tenth of its cap queued (5),
    // so its next four wait behind it in memory. Another webhook's tasks, later in the partition, start meanwhile, so
    // the stop's drain covers offsets past the strict webhook's.
    s = await deliveryScenario(services, {
      TOPIC_DELIVERIES_PARTITIONS: '1', DELIVERER_MAX_BUFFERED: '100', DELIVERER_MAX_QUEUED_PER_WEBHOOK: '50',
      DELIVERER_RETRY_DELAYS_MS: '60000', DELIVERER_RETRY_JITTER: '0', SHUTDOWN_TIMEOUT_MS: '6000',
    });
    const strict = await s.addWebhook({ ordering: 'strict' });
    const other = await s.addWebhook();
    strict.receiver.respondWith(() => ({ status: 503 }));
    await s.startDeliverer();
    await s.produceTasks(strict.id, 5);
    await s.produceTasks(other.id, 5);
    await waitFor('the other webhook\'s 5 deliveries', () => other.receiver.requests.length >= 5, 20_000);
    expect(seqs(strict.receiver)).toEqual([0]);
    await s.stopDeliverer();
    // Task 0 is given up, uncommitted: after a restart it comes first again, and its later tasks after it.
    expect(seqs(strict.receiver)).toEqual([0]);
    expect(await committedOffset(s)).toBe(0);
  });

  it('a retry tier defers and reads again too, each of its tasks once and in order', async () => {
    // A tier queues a quarter of DELIVERER_MAX_QUEUED_PER_WEBHOOK: 5 here, so most of the 20 retries wait in Kafka,
    // while the first attempts (a queue of 20) all fit: whatever is read again, the tier read it.
    s = await deliveryScenario(services, { ...SMALL, DELIVERER_MAX_QUEUED_PER_WEBHOOK: '20' });
    const hook = await s.addWebhook();
    const seen = new Set<string>();
    // Every task's first attempt fails: all of them go through the first retry tier.
    hook.receiver.respondWith((request) => {
      const id = String(request.headers['webhook-id']);
      if (seen.has(id)) return { status: 204 };
      seen.add(id);
      return { status: 503 };
    });
    const readAgainBefore = await readAgainNow();
    await s.startDeliverer();
    await s.produceTasks(hook.id, 20);
    await waitFor('every task retried', () => hook.receiver.requests.length >= 40, 30_000);
    // The tier did leave tasks in Kafka and read them again, not just take them all.
    expect(await readAgainNow()).toBeGreaterThan(readAgainBefore);
    const firstSeen = new Set<string>();
    const retries = hook.receiver.requests.filter((request) => {
      const id = String(request.headers['webhook-id']);
      if (firstSeen.has(id)) return true;
      firstSeen.add(id);
      return false;
    });
    expect(new Set(retries.map((r) => String(r.headers['webhook-id']))).size).toBe(20);
    expect(seqs({ ...hook.receiver, requests: retries })).toEqual(range(20));
    expect(await deferredNow()).toBe(0);
  });
});
