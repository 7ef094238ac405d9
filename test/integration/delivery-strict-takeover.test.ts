import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { createAttemptHistory } from '../../connector/delivery/attempt-history.js';
import { deliveryScenario, type DeliveryScenario } from '../support/delivery-scenario.js';
import { waitFor } from '../support/wait.js';

/** Four retries: five attempts in all, a retry delay apart. */
const RETRY_MS = 2500;

/**
 * A strict webhook retries its failing head task in place, counting attempts
 * in memory. A restart (or a rebalance) hands the task to a deliverer that
 * reads it from the topic at attempt 1; it must count on from the attempts
 * the delivery log holds, or a webhook whose deliverers restart more often
 * than its schedule runs would never see its head dead-lettered.
 */
describe('a strict webhook\'s failing task across a deliverer restart', () => {
  let s: DeliveryScenario;

  beforeAll(async () => {
    s = await deliveryScenario(inject('services'), { DELIVERER_RETRY_DELAYS_MS: Array.from({ length: 4 }, () => RETRY_MS).join(',') });
    await s.startDeliverer();
  });

  afterAll(async () => {
    await s?.close();
  });

  it('counts on from the attempts logged before the restart, and dead-letters the task where the schedule ends', async () => {
    const hook = await s.addWebhook({ ordering: 'strict' });
    hook.receiver.respondWith(() => ({ status: 503 }));
    const [task] = await s.produceTasks(hook.id, 1);
    const attempts = async () => {
      const { rows } = await s.pool.query<{ attempt: number; outcome: string }>(
        'SELECT attempt, outcome FROM delivery_attempts WHERE task_id = $1 ORDER BY attempted_at', [task!.taskId],
      );
      return rows.map((row) => [row.attempt, row.outcome]);
    };
    // Two attempts logged, the third a retry delay away: the restart comes between them.
    await waitFor('two attempts in the delivery log', async () => (await attempts()).length >= 2, 20_000);
    await s.stopDeliverer();
    expect(await attempts()).toEqual([[1, 'retry'], [2, 'retry']]);
    expect(hook.receiver.requests).toHaveLength(2);

    await s.startDeliverer();
    await waitFor('the task dead-lettered', async () => (await attempts()).some(([, outcome]) => outcome === 'dead_letter'), 30_000);
    expect(await attempts()).toEqual([[1, 'retry'], [2, 'retry'], [3, 'retry'], [4, 'retry'], [5, 'dead_letter']]);
    // Five requests in all, not two before the restart and a whole schedule's five after it.
    expect(hook.receiver.requests).toHaveLength(5);
  });

  it('counts only the task\'s current chain: not attempts before it was routed or resent, nor sheds', async () => {
    const hook = await s.addWebhook({ ordering: 'strict' });
    const [task] = await s.produceTasks(hook.id, 1);
    const history = createAttemptHistory(s.pool, s.log);
    expect(await history(task!)).toBe(0);
    const log = (attempt: number, at: number, errorCode: string | null) => s.pool.query(
      `INSERT INTO delivery_attempts (attempt_id, task_id, webhook_id, organization, event_id, event_type, attempt, outcome, error_code, attempted_at)
       VALUES ($1, $2, $3, $4, 'evt', 'USER_CREATED', $5, 'retry', $6, $7)`,
      [randomUUID(), task!.taskId, hook.id, s.organization, attempt, errorCode, new Date(at)],
    );
    // An earlier chain of the same task (a resend starts a new one), then two attempts of this one and a shed.
    await log(7, task!.routedAt - 60_000, null);
    await log(1, task!.routedAt + 1000, null);
    await log(2, task!.routedAt + 2000, 'CONNECTION_REFUSED');
    await log(3, task!.routedAt + 3000, 'CIRCUIT_OPEN');
    expect(await history(task!)).toBe(2);
    expect(await history({ ...task!, routedAt: task!.routedAt + 1500 })).toBe(2);
    expect(await history({ ...task!, routedAt: task!.routedAt + 2500 })).toBe(0);
  });
});
