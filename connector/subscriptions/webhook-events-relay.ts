import type { Pool } from '../db/pool.js';
import { inTransaction } from '../db/transaction.js';
import type { PublishTasks } from '../delivery/publish-tasks.js';
import { taskIdFor, type DeliveryTask } from '../delivery/task.js';
import type { Logger } from '../observability/logger.js';
import { patternMatches } from './match.js';
import type { WebhookRoute } from './webhook.js';

/** A row of webhook_admin_events (see migration 1764000000006): a change to a webhook, not yet delivered. */
export interface WebhookAdminEvent {
  seq: string;
  eventId: string;
  organization: string;
  eventType: string;
  occurredAt: number;
  /** Who made the change: the admin API token's subject, or identity-webhooks (the connector disabling a webhook). */
  actor: string | null;
  payload: Record<string, unknown>;
}

/** The family WEBHOOK_* events belong to in the catalog. */
const FAMILY = 'admin';
/** The events' `source`, as a platform names itself on a source record: this product, whichever part made the change. */
const SOURCE = 'identity-webhooks';
/** How often a relay looks for recorded webhook changes to deliver. */
export const WEBHOOK_EVENTS_POLL_MS = 500;
/** Events taken per pass; the rest wait for the next one, at once. */
const BATCH = 200;
/**
 * Any fixed key: one relay works at a time across every admin API and deliverer process, so events go out in the
 * order of their sequence numbers. That is the order they were recorded for one webhook (its row is locked by the
 * change); across webhooks a transaction that took a lower number may commit after a higher one was relayed, and
 * its event then goes out after that one's.
 */
const RELAY_LOCK = 0x5745_4248;

/**
 * The delivery tasks of recorded webhook changes: one per (event, webhook of
 * the same organization subscribed to it and receiving events), the way the
 * router matches source events. Pure: the I/O is the relay's.
 */
export function webhookEventTasks(events: readonly WebhookAdminEvent[], routes: readonly WebhookRoute[], now: number): DeliveryTask[] {
  const tasks: DeliveryTask[] = [];
  for (const event of events) {
    for (const route of routes) {
      if (route.organization !== event.organization || !route.eventTypes.some((pattern) => patternMatches(pattern, event.eventType, FAMILY))) continue;
      tasks.push({
        v: 1,
        taskId: taskIdFor(event.eventId, route.id),
        webhookId: route.id,
        organization: event.organization,
        attempt: 1,
        routedAt: now,
        event: { eventId: event.eventId, eventType: event.eventType, family: FAMILY, occurredAt: event.occurredAt, organization: event.organization, actor: event.actor, source: SOURCE, payload: event.payload },
      });
    }
  }
  return tasks;
}

export interface WebhookEventRelay {
  start(): void;
  /**
   * Stops polling, waits for a pass under way (its tasks are published and its rows deleted, or neither), then
   * makes one last pass for the changes made meanwhile. Call it once no request can change a webhook any more.
   */
  stop(): Promise<void>;
}

/**
 * Turns the outbox rows the webhooks trigger writes into delivery tasks on
 * the deliveries topic, then deletes them, in one Postgres transaction: a
 * failed publish leaves the rows for the next pass (at least once; the
 * task ids are stable, so receivers deduplicate by webhook-id).
 *
 * Admin API processes run it, and so do deliverers: the changes the
 * connector makes itself (a webhook disabled after 410 Gone or a failing
 * window) would otherwise wait for an admin API to start, and a webhook's
 * owner hears nothing of an endpoint switched off at night.
 */
export function createWebhookEventRelay(deps: { pool: Pool; publish: PublishTasks; log: Logger; intervalMs: number }): WebhookEventRelay {
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  let pass: Promise<void> = Promise.resolve();
  let failing = false;

  /** One batch; resolves to how many events it took. */
  const relayBatch = (): Promise<number> =>
    inTransaction(deps.pool, async (client) => {
      const locked = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS locked', [RELAY_LOCK]);
      if (!locked.rows[0]?.locked) return 0;
      const { rows } = await client.query<{ seq: string; event_id: string; organization: string; event_type: string; occurred_at: Date; actor: string | null; payload: Record<string, unknown> }>(
        `SELECT seq, event_id, organization, event_type, occurred_at, actor, payload FROM webhook_admin_events ORDER BY seq LIMIT ${BATCH}`,
      );
      if (rows.length === 0) return 0;
      const events = rows.map((row): WebhookAdminEvent => ({
        seq: row.seq, eventId: row.event_id, organization: row.organization, eventType: row.event_type, occurredAt: row.occurred_at.getTime(), actor: row.actor, payload: row.payload,
      }));
      const organizations = [...new Set(events.map((event) => event.organization))];
      // Subscribed and receiving now, as the router's index would have them.
      const routes = await client.query<{ id: string; organization: string; event_types: string[] }>(
        `SELECT id, organization, event_types FROM webhooks
          WHERE organization = ANY($1) AND status = 'active' AND verification_status = 'verified'`,
        [organizations],
      );
      const tasks = webhookEventTasks(events, routes.rows.map((r) => ({ id: r.id, organization: r.organization, eventTypes: r.event_types })), Date.now());
      // Published before the rows go: a failure here rolls the deletion back, and the next pass tries again.
      if (tasks.length > 0) await deps.publish(tasks);
      await client.query('DELETE FROM webhook_admin_events WHERE seq = ANY($1::bigint[])', [events.map((event) => event.seq)]);
      return events.length;
    });

  /** Batches until one is not full: a backlog (after an outage) goes out at once, not a batch per interval. */
  const run = async (): Promise<void> => {
    try {
      while ((await relayBatch()) === BATCH);
      if (failing) deps.log.info('webhook change events are delivered again');
      failing = false;
    } catch (error) {
      // Kept for the next pass: nothing is lost, only late. Said once per outage, not every pass.
      if (!failing) deps.log.warn({ err: error }, 'could not deliver webhook change events (WEBHOOK_*); they wait in Postgres and are tried again');
      failing = true;
    }
  };

  const schedule = (): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      pass = run().finally(schedule);
    }, deps.intervalMs);
  };

  return {
    start: schedule,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await pass;
      // Changes made by the requests that finished while the server closed go out now, not at the next start.
      await run();
    },
  };
}
