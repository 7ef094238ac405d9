import type { Pool } from '../db/pool.js';
import type { Logger } from '../observability/logger.js';
import type { DeliveryTask } from './task.js';

/**
 * How many attempts of a task's current chain the delivery log holds: the
 * highest attempt number logged for it since it was routed (or resent: a
 * resend starts a chain of its own), not counting sheds, which are not
 * attempts. A strict webhook retries its head task in place, counting in
 * memory; another instance taking its partition over reads the task from
 * the topic at attempt 1, and continues from this count instead of starting
 * the schedule again (which, on every restart, would keep a failing head
 * from ever running out of retries).
 *
 * Best effort: the log lags the attempts by the sink's batching, and with
 * Postgres down it answers 0 (deliveries go on without it).
 */
export type AttemptHistory = (task: DeliveryTask) => Promise<number>;

export function createAttemptHistory(pool: Pool, log: Logger): AttemptHistory {
  return async (task) => {
    try {
      const { rows } = await pool.query<{ logged: number | null }>(
        `SELECT max(attempt) AS logged FROM delivery_attempts
          WHERE task_id = $1 AND attempted_at >= $2 AND error_code IS DISTINCT FROM 'CIRCUIT_OPEN'`,
        [task.taskId, new Date(task.routedAt)],
      );
      return rows[0]?.logged ?? 0;
    } catch (error) {
      log.warn({ err: error, taskId: task.taskId, webhookId: task.webhookId }, 'could not read a task\'s earlier attempts; counting from its own');
      return 0;
    }
  };
}
