import { afterEach, describe, expect, inject, it } from 'vitest';
import { createPool } from '../../connector/db/pool.js';
import { circuitBreakersOpen, consumerCrashes, deliveryLogWriteFailures } from '../../connector/observability/metrics.js';
import { spawnConnector, type ConnectorProcess } from '../support/connector-process.js';
import { deliveryScenario, seqs, type DeliveryScenario } from '../support/delivery-scenario.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { waitFor } from '../support/wait.js';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The deliverer group's committed offset of each partition of the deliveries topic (none yet: -1). */
async function committedOffsets(scenario: DeliveryScenario): Promise<Map<number, bigint>> {
  const admin = scenario.kafka.admin();
  await admin.connect();
  try {
    const [topic] = await admin.fetchOffsets({ groupId: scenario.config.deliverer.groupId, topics: [scenario.config.topics.deliveries] });
    return new Map(topic!.partitions.map((p) => [p.partition, BigInt(p.offset)]));
  } finally {
    await admin.disconnect();
  }
}

/** How long the Postgres outage lasts; see the test. */
const OUTAGE_MS = 12_000;

// Endpoints that are slow, dead, or outlive a crashed deliverer.
describe('delivery resilience', () => {
  const services = inject('services');
  let scenario: DeliveryScenario | undefined;
  const children: ConnectorProcess[] = [];

  afterEach(async () => {
    for (const child of children.splice(0)) child.child.kill('SIGKILL');
    await scenario?.close();
    scenario = undefined;
  });

  it('a slow endpoint holds up only its own webhook', async () => {
    scenario = await deliveryScenario(services, { TOPIC_DELIVERIES_PARTITIONS: '1' });
    const slow = await scenario.addWebhook();
    const fast = await scenario.addWebhook();
    // The slow endpoint answers nothing until the test says so: however loaded the machine, the fast webhook's
    // deliveries must all arrive while its first request waits.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    slow.receiver.respondWith(async () => (await released, { status: 204 }));
    await scenario.startDeliverer();
    // Same single partition, slow tasks first: the fast webhook's tasks must not queue behind them.
    await scenario.produceTasks(slow.id, 5);
    await scenario.produceTasks(fast.id, 50);
    await waitFor('all fast deliveries', () => fast.receiver.requests.length >= 50, 30_000);
    // One request at a time for the slow webhook: its first is still unanswered.
    expect(slow.receiver.requests).toHaveLength(1);
    expect(seqs(fast.receiver)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    release();
    await waitFor('the slow webhook\'s deliveries once it answers', () => slow.receiver.requests.length >= 5, 30_000);
    expect(seqs(slow.receiver)).toEqual([0, 1, 2, 3, 4]);
  });

  it('opens the circuit after repeated failures, stops sending, and auto-disables a webhook failing for the whole window', async () => {
    scenario = await deliveryScenario(services, {
      DELIVERER_BREAKER_FAILURE_THRESHOLD: '3',
      DELIVERER_BREAKER_OPEN_MS: '60000',
      DELIVERER_RETRY_DELAYS_MS: '150,150,150,150,150,150,150,150,150,150,150,150,150,150,150,150',
      DELIVERER_AUTO_DISABLE_AFTER_MS: '2000',
    });
    const dead = await scenario.addWebhook();
    dead.receiver.respondWith(() => ({ status: 503 }));
    await scenario.startDeliverer();
    await scenario.produceTasks(dead.id, 4);
    const row = await waitFor('the webhook to be auto-disabled', async () => {
      const { rows } = await scenario!.pool.query('SELECT status, status_reason FROM webhooks WHERE id = $1', [dead.id]);
      return rows[0].status === 'inactive' ? (rows[0] as { status_reason: string }) : undefined;
    }, 20_000);
    expect(row.status_reason).toMatch(/^Disabled automatically: every delivery failed since /);
    // Three real failures opened the circuit; every later attempt was shed without a request.
    expect(dead.receiver.requests).toHaveLength(3);
    const shed = await waitFor('shed attempts in the log', async () => {
      const { rows } = await scenario!.pool.query(`SELECT count(*)::int AS n FROM delivery_attempts WHERE webhook_id = $1 AND error_code = 'CIRCUIT_OPEN'`, [dead.id]);
      return rows[0].n > 0 ? (rows[0].n as number) : undefined;
    }, 15_000);
    expect(shed).toBeGreaterThan(0);
    // Shed attempts never reached the endpoint.
    expect(dead.receiver.requests).toHaveLength(3);
  });

  it('sends a task shed by the open circuit once the breaker probes, even on its last attempt: being shed is not an attempt', async () => {
    scenario = await deliveryScenario(services, {
      DELIVERER_BREAKER_FAILURE_THRESHOLD: '2',
      DELIVERER_BREAKER_OPEN_MS: '1500',
      // Three attempts in all: the third comes while the circuit opened by the first two is open.
      DELIVERER_RETRY_DELAYS_MS: '100,100',
    });
    const flapping = await scenario.addWebhook();
    let answered = 0;
    flapping.receiver.respondWith(() => ({ status: (answered += 1) <= 2 ? 503 : 204 }));
    await scenario.startDeliverer();
    await scenario.produceTasks(flapping.id, 1);
    const log = await waitFor('the task delivered', async () => {
      const { rows } = await scenario!.pool.query<{ attempt: number; outcome: string; code: string | null }>(
        'SELECT attempt, outcome, coalesce(status::text, error_code) AS code FROM delivery_attempts WHERE webhook_id = $1 ORDER BY attempted_at, attempt',
        [flapping.id],
      );
      return rows.some((row) => row.outcome === 'delivered') ? rows : undefined;
    }, 20_000);
    expect(log.map((row) => [row.attempt, row.outcome, row.code])).toEqual([
      [1, 'retry', '503'],
      [2, 'retry', '503'],
      [3, 'retry', 'CIRCUIT_OPEN'],
      [3, 'delivered', '204'],
    ]);
    expect(flapping.receiver.requests).toHaveLength(3);
  });

  /**
   * A deliverer whose circuits open after two failures (and stay open ten minutes), and two webhooks whose endpoints
   * fail until both circuits are open; `openCircuits` counts from before them, as an earlier test's deliverer in
   * this process may have left circuits in the gauge.
   */
  const twoOpenCircuits = async () => {
    const opened = await deliveryScenario(services, { DELIVERER_BREAKER_FAILURE_THRESHOLD: '2', DELIVERER_BREAKER_OPEN_MS: '600000', DELIVERER_RETRY_DELAYS_MS: '100,100' });
    scenario = opened;
    const gauge = async (): Promise<number> => (await circuitBreakersOpen.get()).values[0]?.value ?? 0;
    const before = await gauge();
    const openCircuits = async (): Promise<number> => (await gauge()) - before;
    const failing = [await opened.addWebhook(), await opened.addWebhook()] as const;
    for (const hook of failing) hook.receiver.respondWith(() => ({ status: 503 }));
    await opened.startDeliverer();
    for (const hook of failing) await opened.produceTasks(hook.id, 1);
    // Two failures each open both circuits; the third try is shed, and waits on the retry path for the probe.
    await waitFor('both circuits open', async () => (await openCircuits()) === 2, 20_000);
    return { scenario: opened, openCircuits, failing };
  };

  it('forgets the open circuit of a webhook an admin deletes or moves to another URL, and of no other change: the gauge counts it no longer, a new URL starts afresh', async () => {
    const { scenario, openCircuits, failing: [deleted, moved] } = await twoOpenCircuits();
    const fixed = await scenario.addWebhook();
    await waitFor('both tasks shed', async () => {
      const { rows } = await scenario.pool.query(`SELECT count(DISTINCT webhook_id)::int AS n FROM delivery_attempts WHERE webhook_id = ANY($1) AND error_code = 'CIRCUIT_OPEN'`, [[deleted.id, moved.id]]);
      return rows[0].n === 2;
    }, 20_000);
    await scenario.pool.query('DELETE FROM webhooks WHERE id = $1', [deleted.id]);
    await waitFor('the deleted webhook\'s circuit forgotten', async () => (await openCircuits()) === 1, 10_000);
    // A change that leaves the URL keeps the circuit open: a failing endpoint gets no more requests for a rename.
    await scenario.pool.query(`UPDATE webhooks SET name = 'renamed' WHERE id = $1`, [moved.id]);
    const [renamedTask] = await scenario.produceTasks(moved.id, 1);
    await waitFor('the renamed webhook\'s task shed', async () => {
      const { rows } = await scenario.pool.query(`SELECT count(*)::int AS n FROM delivery_attempts WHERE task_id = $1 AND error_code = 'CIRCUIT_OPEN'`, [renamedTask!.taskId]);
      return rows[0].n >= 1;
    }, 15_000);
    expect(moved.receiver.requests).toHaveLength(2);
    // Moved to a working URL: its next task goes out at once, not shed for ten minutes, and its circuit closes.
    await scenario.pool.query('UPDATE webhooks SET url = $2 WHERE id = $1', [moved.id, fixed.receiver.url]);
    // Once the deliverer has heard of the move (its cached target dropped), a task sees the new URL.
    await waitFor('the move heard', async () => {
      await scenario.produceTasks(moved.id, 1);
      return waitFor('a request at the new URL', () => fixed.receiver.requests.length >= 1, 2000).then(() => true, () => false);
    }, 20_000);
    await waitFor('the moved webhook\'s circuit closed', async () => (await openCircuits()) === 0, 10_000);
  });

  it('forgets the open circuit of a webhook deleted while its change listener was disconnected, once it listens again', async () => {
    const { scenario, openCircuits, failing: [deleted, kept] } = await twoOpenCircuits();
    // The listener's connection ends and the webhook is deleted in one transaction: its notification goes out at the
    // commit, to no one (the listener connects again after a second), so only the reconnect's check can tell.
    const client = await scenario.pool.connect();
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<{ ended: boolean }>(
        `SELECT pg_terminate_backend(pid, 5000) AS ended FROM pg_stat_activity WHERE application_name = 'identity-webhooks-deliverer' AND query LIKE 'LISTEN%'`,
      );
      expect(rows.length).toBeGreaterThan(0);
      expect(rows.every((row) => row.ended)).toBe(true);
      await client.query('DELETE FROM webhooks WHERE id = $1', [deleted.id]);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    await waitFor('the deleted webhook\'s circuit forgotten after the reconnect', async () => (await openCircuits()) === 1, 15_000);
    // The other webhook exists: its circuit stays open, shedding load from its failing endpoint.
    expect(kept.receiver.requests).toHaveLength(2);
  });

  it('a deliverer killed with SIGKILL mid-stream loses nothing: every event arrives after a restart', async () => {
    scenario = await deliveryScenario(services);
    const hooks = await Promise.all([scenario.addWebhook(), scenario.addWebhook(), scenario.addWebhook()]);
    for (const hook of hooks) hook.receiver.respondWith(async () => (await pause(5), { status: 204 }));
    const expected = new Set<string>();
    for (const hook of hooks) for (const task of await scenario.produceTasks(hook.id, 150)) expected.add(task.taskId);
    const received = () => new Set(hooks.flatMap((h) => h.receiver.requests.map((r) => String(r.headers['webhook-id']))));

    const first = spawnConnector('deliverer', scenario.env);
    children.push(first);
    await waitFor('a third of the deliveries', () => received().size >= expected.size / 3, 60_000);
    first.child.kill('SIGKILL');
    await first.exited;
    const beforeRestart = received().size;
    expect(beforeRestart).toBeLessThan(expected.size);
    const committedAtKill = await committedOffsets(scenario);

    const second = spawnConnector('deliverer', scenario.env);
    children.push(second);
    await waitFor('every event delivered', () => received().size >= expected.size, 90_000);
    expect([...received()].filter((id) => !expected.has(id))).toEqual([]);
    // At-least-once: a crash may repeat only what was not committed when it died, never a task below a committed offset.
    const sent = hooks.flatMap((h) => h.receiver.requests.map((r) => String(r.headers['webhook-id'])));
    const repeated = [...new Set(sent.filter((id, i) => sent.indexOf(id) !== i))];
    const repeatedBelowCommit = repeated.filter((id) => {
      const at = scenario!.positionOf(id)!;
      return at.offset < (committedAtKill.get(at.partition) ?? 0n);
    });
    expect(repeatedBelowCommit).toEqual([]);
    for (const hook of hooks) {
      const order = hook.receiver.requests.map((r) => (JSON.parse(r.body) as { payload: { seq: number } }).payload.seq);
      const firstSeen = order.filter((seq, i) => order.indexOf(seq) === i);
      expect(firstSeen).toEqual(Array.from({ length: 150 }, (_, i) => i));
    }
    second.child.kill('SIGTERM');
    expect(await second.exited, second.output()).toBe(0);
  });

  // An ordered stop must wait for answers however requests go out: all through a sending thread; one of the two
  // webhooks' requests from the main thread while the other's is in flight on the thread (at most 1 inline); and
  // with no thread at all.
  it.each([
    { threads: '1', inlineBelow: '0' },
    { threads: '1', inlineBelow: '1' },
    { threads: '0', inlineBelow: '0' },
  ])('a deliverer stopped with SIGTERM mid-stream finishes what it sent, commits it, and a restart delivers the rest without repeats (DELIVERER_HTTP_THREADS=$threads, DELIVERER_HTTP_INLINE_BELOW=$inlineBelow)', async ({ threads, inlineBelow }) => {
    scenario = await deliveryScenario(services, { DELIVERER_HTTP_THREADS: threads, DELIVERER_HTTP_INLINE_BELOW: inlineBelow });
    const hooks = await Promise.all([scenario.addWebhook(), scenario.addWebhook()]);
    for (const hook of hooks) hook.receiver.respondWith(async () => (await pause(5), { status: 204 }));
    const expected = new Set<string>();
    for (const hook of hooks) for (const task of await scenario.produceTasks(hook.id, 200)) expected.add(task.taskId);
    const requests = () => hooks.flatMap((h) => h.receiver.requests.map((r) => String(r.headers['webhook-id'])));

    const first = spawnConnector('deliverer', scenario.env);
    children.push(first);
    await waitFor('a quarter of the deliveries', () => requests().length >= expected.size / 4, 60_000);
    first.child.kill('SIGTERM');
    expect(await first.exited, first.output().slice(-2000)).toBe(0);
    expect(requests().length).toBeLessThan(expected.size);

    const second = spawnConnector('deliverer', scenario.env);
    children.push(second);
    await waitFor('every event delivered', () => new Set(requests()).size >= expected.size, 90_000);
    // An ordered stop commits everything it finished: nothing is sent twice.
    expect(requests().length).toBe(expected.size);
    expect(new Set(requests())).toEqual(expected);
    second.child.kill('SIGTERM');
    expect(await second.exited, second.output().slice(-2000)).toBe(0);
  });
  it('deliveries go on while Postgres is unreachable, and the sink writes their attempts once it is back', async () => {
    // The connector reaches Postgres through a proxy the test cuts; the test's own checks go to Postgres directly.
    const direct = new URL(services.databaseUrl);
    const proxy = await startTcpProxy({ host: direct.hostname, port: Number(direct.port) });
    const viaProxy = new URL(services.databaseUrl);
    viaProxy.port = String(proxy.port);
    // Every webhook is read again on each delivery, so the outage meets a cache entry past its age every time.
    scenario = await deliveryScenario(services, { DATABASE_URL: viaProxy.toString(), DELIVERER_TARGET_CACHE_TTL_MS: '1' });
    const checks = createPool({ url: services.databaseUrl, max: 1, applicationName: 'test-checks' }, scenario.log);
    try {
      const hook = await scenario.addWebhook();
      const logged = async (): Promise<number> =>
        (await checks.query<{ n: number }>('SELECT count(*)::int AS n FROM delivery_attempts WHERE webhook_id = $1', [hook.id])).rows[0]!.n;
      await scenario.startDeliverer();
      await scenario.produceTasks(hook.id, 5);
      await waitFor('the first deliveries in the delivery log', async () => (await logged()) === 5, 30_000);

      proxy.cut();
      const cutAt = Date.now();
      const failedBefore = (await deliveryLogWriteFailures.get()).values[0]?.value ?? 0;
      const during = await scenario.produceTasks(hook.id, 20);
      await waitFor('every delivery made while Postgres is unreachable', () => hook.receiver.requests.length >= 25, 30_000);
      await waitFor('the sink to try again', async () => ((await deliveryLogWriteFailures.get()).values[0]?.value ?? 0) - failedBefore >= 3, 30_000);
      // The outage lasts longer than kafkajs retries a failing batch (300 ms doubling, 5 retries: about 9.3 s, at most
      // 11.2 s with its jitter) before it crashes and restarts the consumer, which a sink throwing its failure would meet.
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, cutAt + OUTAGE_MS - Date.now())));
      expect(await logged()).toBe(5); // the sink could not write them
      const ids = hook.receiver.requests.map((r) => String(r.headers['webhook-id']));
      expect(ids.slice(5)).toEqual(during.map((task) => task.taskId)); // in order, none sent twice

      proxy.restore();
      await waitFor('the sink to catch up once Postgres is back', async () => (await logged()) === 25, 60_000);
      expect(hook.receiver.requests).toHaveLength(25);
      // The sink waited the outage out in place: its consumer never crashed (kafkajs would have restarted it again and again).
      const crashes = (await consumerCrashes.get()).values.filter((v) => v.labels['group'] === scenario!.config.attempts.sinkGroupId);
      expect(crashes.map((v) => v.value)).toEqual([0, 0]);
    } finally {
      await checks.end();
      await scenario.close();
      scenario = undefined;
      await proxy.close();
    }
  });
});
