import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../config/load.js';
import { startRole, stopParts, type RunningPart } from '../../connector/app.js';
import { throwFatal } from '../../connector/lifecycle.js';
import type { ReceivedRequest } from '../../scripts/lib/receiver.js';
import { spawnConnector, type ConnectorProcess } from '../support/connector-process.js';
import { deliveryScenario, type DeliveryScenario } from '../support/delivery-scenario.js';
import { waitFor } from '../support/wait.js';

const RETRY_MS = 1500;

/**
 * Two deliverers in one group, told apart by their User-Agent: a partition
 * moving from one to the other takes its waiting tasks with it. Strict
 * webhooks whose endpoints keep failing retry in place, each holding its
 * task in the first deliverer; once the second joins, the tasks of the
 * partitions it was given are its alone.
 */
describe('a partition taken away during a rebalance', () => {
  let s: DeliveryScenario;
  const second: RunningPart[] = [];

  beforeAll(async () => {
    s = await deliveryScenario(inject('services'), {
      DELIVERER_RETRY_DELAYS_MS: Array.from({ length: 12 }, () => RETRY_MS).join(','),
      HTTP_USER_AGENT: 'deliverer-a',
    });
    await s.startDeliverer();
  });

  afterAll(async () => {
    await stopParts(second, s.log).catch(() => undefined);
    await s?.close();
  });

  it('ends its strict retries in place in the old owner: the endpoint hears from the new owner only, not from both', async () => {
    // At least eight, over every partition: whichever the second deliverer is given, some webhooks move and some stay.
    const hooks: Array<Awaited<ReturnType<DeliveryScenario['addWebhook']>>> = [];
    const covered = new Set<number>();
    while (hooks.length < 8 || covered.size < s.config.topics.deliveriesPartitions) {
      expect(hooks.length, 'webhooks spread over every partition').toBeLessThan(64);
      const hook = await s.addWebhook({ ordering: 'strict' });
      hook.receiver.respondWith(() => ({ status: 503 }));
      const [task] = await s.produceTasks(hook.id, 1);
      covered.add(s.positionOf(task!.taskId)!.partition);
      hooks.push(hook);
    }
    const from = (requests: ReceivedRequest[], agent: string) => requests.filter((r) => r.headers['user-agent'] === agent);
    await waitFor('every endpoint tried by the first deliverer', () => hooks.every((hook) => from(hook.receiver.requests, 'deliverer-a').length >= 1), 30_000);

    second.push(...(await startRole('deliverer', loadConfig({ ...s.env, HTTP_USER_AGENT: 'deliverer-b' }), s.log, throwFatal)).parts);
    // The second deliverer takes over some partitions, sending their tasks from the committed offset (never past them).
    const first = await waitFor('a webhook tried by the second deliverer', () => hooks.find((hook) => from(hook.receiver.requests, 'deliverer-b').length >= 1), 60_000);
    // A retry delay later it has read every partition it was given: which webhooks moved is settled.
    await waitFor('the second deliverer\'s second try', () => from(first.receiver.requests, 'deliverer-b')[1], 30_000);
    const moved = hooks.filter((hook) => from(hook.receiver.requests, 'deliverer-b').length >= 1);
    // Its second try comes a retry delay after its first: by then a first owner still waiting in place would have tried again too.
    for (const hook of moved) {
      const secondTry = await waitFor('the second deliverer\'s second try', () => from(hook.receiver.requests, 'deliverer-b')[1], 30_000);
      const afterTakeover = from(hook.receiver.requests, 'deliverer-a').filter((r) => r.receivedAt >= secondTry.receivedAt - RETRY_MS / 2);
      expect(afterTakeover, 'the first deliverer tried a task of a partition it no longer owns').toEqual([]);
    }
    // The webhooks that stayed are still retried by the first deliverer, in place, as before.
    const stayed = hooks.filter((hook) => !moved.includes(hook));
    expect(stayed.length, 'webhooks left with the first deliverer').toBeGreaterThan(0);
    for (const hook of stayed) {
      const before = from(hook.receiver.requests, 'deliverer-a').length;
      await waitFor('a kept webhook tried again', () => from(hook.receiver.requests, 'deliverer-a').length > before, 30_000);
    }
  });
});

/** The strict webhook's retry delay in the test below: longer than the first deliverer is kept out of the group. */
const HELD_RETRY_MS = 25_000;

/**
 * A deliverer out of the group for longer than its session (here: its process
 * stopped with SIGSTOP) while another member takes its partition, delivers
 * what it held and commits further. Given the partition back, it must not
 * keep what it held of it: it would send the task it was retrying again, and
 * its commits could move the group's offset back.
 */
describe('a partition given back after this deliverer was out of the group', () => {
  let s: DeliveryScenario;
  let first: ConnectorProcess | undefined;

  beforeAll(async () => {
    s = await deliveryScenario(inject('services'), {
      TOPIC_DELIVERIES_PARTITIONS: '1',
      DELIVERER_RETRY_DELAYS_MS: Array.from({ length: 5 }, () => HELD_RETRY_MS).join(','),
      HTTP_USER_AGENT: 'deliverer-b',
    });
  });

  afterAll(async () => {
    if (first) {
      first.child.kill('SIGCONT');
      first.child.kill('SIGKILL');
    }
    await s?.close();
  });

  it('drops what it held and reads the partition again from the group\'s commit', async () => {
    const admin = s.kafka.admin();
    await admin.connect();
    const committed = async (): Promise<bigint> => {
      const [topic] = await admin.fetchOffsets({ groupId: s.config.deliverer.groupId, topics: [s.config.topics.deliveries] });
      return BigInt(topic!.partitions[0]!.offset);
    };
    const after = (taskId: string): bigint => s.positionOf(taskId)!.offset + 1n;
    const from = (requests: ReceivedRequest[], agent: string) => requests.filter((r) => r.headers['user-agent'] === agent);
    try {
      let accept = false;
      const strict = await s.addWebhook({ ordering: 'strict' });
      strict.receiver.respondWith(() => ({ status: accept ? 204 : 503 }));
      const other = await s.addWebhook();

      // The first deliverer, in a process of its own, holds the strict webhook's task (retrying in place) while
      // the other webhook's tasks pass it: the group's commit stays at the held task.
      first = spawnConnector('deliverer', { ...s.env, HTTP_USER_AGENT: 'deliverer-a', LOG_LEVEL: 'info' });
      const [held] = await s.produceTasks(strict.id, 1);
      await s.produceTasks(other.id, 4);
      const firstTry = await waitFor('the strict task tried by the first deliverer', () => from(strict.receiver.requests, 'deliverer-a')[0], 60_000);
      await waitFor('the other webhook served by the first deliverer', () => other.receiver.requests.length >= 4, 60_000);
      await waitFor('the commit held at the strict task', async () => (await committed()) === s.positionOf(held!.taskId)!.offset, 30_000);

      // Out of the group: a second deliverer gets the partition once the first one's session has expired, sends the
      // held task (the endpoint takes it now) and the tasks after it, commits past them all, and stops.
      first.child.kill('SIGSTOP');
      accept = true;
      await s.startDeliverer();
      const later = await s.produceTasks(other.id, 3);
      await waitFor('the second deliverer past every task', async () => (await committed()) === after(later[2]!.taskId), 60_000);
      await s.stopDeliverer();
      expect(from(strict.receiver.requests, 'deliverer-b')).toHaveLength(1);
      const groupCommit = await committed();

      // Back, alone in the group, given the partition again, before its retry of the held task is due.
      const seen: bigint[] = [];
      let watching = true;
      const watch = (async () => {
        while (watching) {
          seen.push(await committed().catch(() => groupCommit));
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
      })();
      const back = Date.now();
      expect(back, 'the test took too long to be back before the held retry was due').toBeLessThan(firstTry.receivedAt + HELD_RETRY_MS - 3000);
      first.child.kill('SIGCONT');
      await waitFor('the first deliverer back in the group', async () => {
        const { groups } = await admin.describeGroups([s.config.deliverer.groupId]);
        return groups[0]?.state === 'Stable' && groups[0].members.length === 1;
      }, 60_000);
      const [last] = await s.produceTasks(other.id, 1);
      await waitFor('a new task delivered by the first deliverer', () => from(other.receiver.requests, 'deliverer-a').some((r) => r.headers['webhook-id'] === last!.taskId), 30_000);
      await waitFor('the commit past it', async () => (await committed()) === after(last!.taskId), 30_000);
      // Kept, its retry of the held task would come when due: wait until then, and a little more.
      const due = firstTry.receivedAt + HELD_RETRY_MS + 2000;
      await waitFor('the held retry\'s due time', () => Date.now() >= due, HELD_RETRY_MS + 5000, 250);
      watching = false;
      await watch;
      expect(from(strict.receiver.requests, 'deliverer-a').filter((r) => r.receivedAt >= back), 'the first deliverer sent the task the second had delivered').toEqual([]);
      expect(seen.filter((offset) => offset < groupCommit), 'the group\'s commit moved back').toEqual([]);
      expect(first.output()).toContain('another member committed this partition further');
    } finally {
      await admin.disconnect();
    }
  });
});
