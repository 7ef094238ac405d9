import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../config/load.js';
import { startRole, stopParts, type RunningPart } from '../../connector/app.js';
import { throwFatal } from '../../connector/lifecycle.js';
import type { ReceivedRequest } from '../../scripts/lib/receiver.js';
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
    const hooks = await Promise.all(Array.from({ length: 8 }, () => s.addWebhook({ ordering: 'strict' })));
    for (const hook of hooks) hook.receiver.respondWith(() => ({ status: 503 }));
    for (const hook of hooks) await s.produceTasks(hook.id, 1);
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
    for (const hook of stayed) {
      const before = from(hook.receiver.requests, 'deliverer-a').length;
      await waitFor('a kept webhook tried again', () => from(hook.receiver.requests, 'deliverer-a').length > before, 30_000);
    }
  });
});
