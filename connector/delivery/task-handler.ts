import type { Producer } from 'kafkajs';
import type { BodyTypeName } from '../events/catalog.js';
import type { Logger } from '../observability/logger.js';
import { circuitBreakersOpen, deadLetters, deliveries, deliveriesInFlight, endToEndLatency, httpRequestDuration, outcomeWriteFailures, retriesScheduled, retryHops, webhooksAutoDisabled } from '../observability/metrics.js';
import type { FailureTracker } from '../subscriptions/failure-tracker.js';
import type { Pool } from '../db/pool.js';
import { deactivateWebhook, type Deactivation } from '../subscriptions/status.js';
import type { TargetCache } from '../subscriptions/target-cache.js';
import type { WebhookTarget } from '../subscriptions/webhook.js';
import type { AttemptHistory } from './attempt-history.js';
import type { AttemptLog } from './attempt-log.js';
import { attemptRecord, type AttemptRecord } from './attempt-record.js';
import { admit, admitsAgainAt, breakerAfter, CLOSED, type BreakerPolicy, type BreakerState } from './circuit-breaker.js';
import type { HttpSender, SendResult } from './http-sender.js';
import { decideOutcome, statusClass, type AttemptResult } from './outcome.js';
import { payloadJson } from './envelope.js';
import { buildWebhookRequest, withoutSentSecrets } from './request.js';
import { nextHop, nextRetry, shedUntil, type RetrySchedule } from './retry-schedule.js';
import { deliveryKind, encodeTask, type DeliveryTask } from './task.js';
import { pause, untilDone } from './persist.js';
import type { Aside } from './keyed-scheduler.js';
import type { SlowRequests } from './slow-requests.js';
import { RETRY_DUE_AT_HEADER } from './retry-tier.js';

export interface TaskHandlerDeps {
  pool: Pool;
  targets: TargetCache;
  sender: HttpSender;
  attempts: AttemptLog;
  /** Attempts of a task's chain already logged: where a strict webhook's head task, taken over, resumes counting. */
  attemptHistory: AttemptHistory;
  failures: FailureTracker;
  /** Idempotent producer for retry tiers and the DLQ. */
  producer: Producer;
  schedule: RetrySchedule;
  breakerPolicy: BreakerPolicy;
  retryTopic: (tierLabel: string) => string;
  dlqTopic: string;
  userAgent: string;
  /** The event type a body carries: the catalog's name, or the body format's product's spelling (catalog.bodyTypeName). */
  bodyTypeName: BodyTypeName;
  /** Where requests past the slow threshold wait without a slot; without it a request keeps its slot until answered. */
  slowRequests?: SlowRequests;
  log: Logger;
  now?: () => number;
  random?: () => number;
}

/**
 * One task, one decision, one place: send (unless the endpoint's circuit is
 * open), decide what the answer means, and make that durable — delivered,
 * scheduled on a retry tier, retried in place (strict ordering), or
 * dead-lettered. Resolves when the webhook may take its next task; `logged`
 * resolves once the attempt records are in Kafka too, and only then may the
 * task's offset be committed. Keeping the log write off the webhook's queue
 * is what lets one endpoint take hundreds of deliveries a second. `aside`
 * is where the task waits without holding one of the deliverer's slots (a
 * strict webhook's retry in place, a request past the slow threshold).
 */
export type TaskHandler = (task: DeliveryTask, signal: AbortSignal, aside?: Aside, withdrawOn?: AbortSignal) => Promise<{ logged: Promise<void> }>;

/** The writes that make a decided outcome durable; each is retried alone, never by sending the task again. */
const OUTCOME_STEPS = ['retry', 'dead_letter', 'disable'] as const;
type OutcomeStep = (typeof OUTCOME_STEPS)[number];

/**
 * The handler; `via`, the same handler (breakers, everything) sending through another sender, such as one
 * deliverer's lane of the sending threads; and `forget`, which drops a webhook's circuit breaker: an admin deleted the webhook, and with no task
 * of it left here its breaker would otherwise count as open in the gauge until a restart. (A webhook moved to another
 * URL starts afresh at its next attempt.) `breakerWebhookIds` lists the webhooks with a breaker not at rest.
 */
export function createTaskHandler(deps: TaskHandlerDeps): TaskHandler & { via(sender: HttpSender): TaskHandler; forget(webhookId: string): void; breakerWebhookIds(): string[] } {
  const now = deps.now ?? Date.now;
  const random = deps.random ?? Math.random;
  const breakers = new Map<string, BreakerState>();
  /** The URL each breaker not at rest judges: a webhook moved to another URL starts afresh. */
  const breakerUrls = new Map<string, string>();
  // Every step's series exists from the start, at 0: a rate over a series that appears with its first failure misses it.
  for (const step of OUTCOME_STEPS) outcomeWriteFailures.inc({ step }, 0);

  const setBreaker = (webhookId: string, next: BreakerState, url?: string): void => {
    const before = breakers.get(webhookId) ?? CLOSED;
    if (next.kind === 'closed' && next.failures === 0) {
      breakers.delete(webhookId);
      breakerUrls.delete(webhookId);
    } else {
      breakers.set(webhookId, next);
      if (url !== undefined) breakerUrls.set(webhookId, url);
    }
    const wasOpen = before.kind !== 'closed';
    const isOpen = next.kind !== 'closed';
    if (wasOpen !== isOpen) circuitBreakersOpen.inc(isOpen ? 1 : -1);
  };

  const deadLetter = async (task: DeliveryTask, code: string, reason: string): Promise<void> => {
    await deps.producer.send({
      topic: deps.dlqTopic,
      messages: [{
        key: task.webhookId,
        value: encodeTask(task),
        headers: { 'dlq.error.code': code, 'dlq.error.message': reason.slice(0, 1000), 'dlq.attempt': String(task.attempt), 'dlq.failed.at': new Date(now()).toISOString() },
      }],
    });
    deadLetters.inc({ kind: 'delivery', reason: code });
  };

  /** One HTTP attempt, or none when the endpoint's circuit is open. */
  const attempt = async (sender: HttpSender, task: DeliveryTask, target: WebhookTarget, payload: string, aside: Aside, withdrawOn: AbortSignal | undefined) => {
    // Built before the breaker admits it: a request that cannot be built must not leave a half-open breaker waiting
    // for a probe's answer that never comes.
    const request = buildWebhookRequest(task, target, Math.floor(now() / 1000), deps.userAgent, payload, deps.bodyTypeName);
    // Opened by another URL's failures (an admin moved the webhook): the new one starts with a closed breaker.
    if ((breakerUrls.get(target.id) ?? target.url) !== target.url) setBreaker(target.id, CLOSED);
    const admission = admit(breakers.get(target.id) ?? CLOSED, now());
    setBreaker(target.id, admission.state, target.url);
    if (!admission.allowed) {
      const result: AttemptResult = { kind: 'error', code: 'CIRCUIT_OPEN', message: 'endpoint circuit is open after repeated failures; not sent', retryable: true };
      return { result, request, responseBody: '', durationMs: 0, sent: false, withdrawn: false, probe: false };
    }
    deliveriesInFlight.inc();
    try {
      const sent: SendResult = await (deps.slowRequests
        ? deps.slowRequests.wait((onSlow) => sender.post(target.url, request.headers, request.body, { onSlow, withdrawOn }), aside)
        : sender.post(target.url, request.headers, request.body, { withdrawOn }));
      if (!sent.withdrawn) httpRequestDuration.observe({ status_class: statusClass(sent.result) }, sent.durationMs / 1000);
      return {
        result: sent.result, request, responseBody: withoutSentSecrets(sent.responseExcerpt, request, sent.responseCut), durationMs: sent.durationMs,
        sent: sent.withdrawn !== true, withdrawn: sent.withdrawn === true, probe: admission.state.kind === 'half-open',
      };
    } finally {
      deliveriesInFlight.dec();
    }
  };

  /**
   * Writes a decided outcome until it is written. The attempt is over and logged: were the write's failure
   * thrown, the caller would run the task again, sending the endpoint the same request once more (and again
   * on every try while Kafka or Postgres is down) for an answer already had.
   */
  const persistOutcome = (step: OutcomeStep, task: DeliveryTask, signal: AbortSignal, write: () => Promise<unknown>): Promise<unknown> =>
    untilDone(write, {
      signal,
      onFailure: (error, retryInMs) => {
        outcomeWriteFailures.inc({ step });
        deps.log.warn({ err: error, step, webhookId: task.webhookId, taskId: task.taskId, retryInMs }, 'delivery outcome not written; trying again (the endpoint is not sent the task again)');
      },
    });

  /** Puts `next` (what is tried next of `task`) on a retry tier, due at `dueAt`, until Kafka takes it. */
  const toTier = (task: DeliveryTask, next: DeliveryTask, tierLabel: string, dueAt: number, reason: string, signal: AbortSignal): Promise<unknown> => {
    const message = { key: next.webhookId, value: encodeTask(next), headers: { [RETRY_DUE_AT_HEADER]: String(dueAt), 'retry.reason': reason } };
    return persistOutcome('retry', task, signal, () => deps.producer.send({ topic: deps.retryTopic(tierLabel), messages: [message] }));
  };

  // Shared by every task rather than closures made per task: this runs for every delivery.
  // `logged` reports a failed write to the caller; should the handler throw before returning it
  // (shutdown, Kafka down), a failed write must not become an unhandled rejection.
  const logAttempt = (records: Array<Promise<void>>, record: AttemptRecord): void => {
    const written = deps.attempts.record(record);
    written.catch(() => undefined);
    records.push(written);
  };
  const done = (records: Array<Promise<void>>): { logged: Promise<void> } => ({
    logged: records.length === 1 ? records[0]! : Promise.all(records).then(() => undefined),
  });

  /** The failure tracker has just set the webhook inactive: its later tasks are skipped from now on. */
  const disabledForFailing = (webhookId: string): void => {
    webhooksAutoDisabled.inc({ reason: 'failing' });
    deps.targets.invalidate(webhookId);
    setBreaker(webhookId, CLOSED);
  };

  const handleVia = (sender: HttpSender): TaskHandler => async (initial, signal, aside = inPlace, withdrawOn) => {
    let task = initial;
    const records: Array<Promise<void>> = [];
    // Retries in place send the same event: its payload is serialized once.
    let payload: string | undefined;
    // Whether this task's earlier attempts were looked up (a strict webhook's, at its first failure here).
    let resumed = false;
    for (;;) {
      let target = await deps.targets.get(task.webhookId);
      // A skip is final, so not on a version read more than a moment ago: a notification lost while the listener
      // reconnected would leave a webhook enabled again skipped for up to the cache's age.
      if (!target || !target.deliverable) target = await deps.targets.get(task.webhookId, FRESH_BEFORE_SKIP_MS);
      if (!target || !target.deliverable) {
        // Deleted, disabled or unverified since routing: the admin's latest word wins. Its breaker goes too: an open
        // one would count in the gauge for good, and a webhook enabled again starts afresh.
        setBreaker(task.webhookId, CLOSED);
        deliveries.inc({ outcome: 'skipped', status_class: 'none' });
        logAttempt(records, attemptRecord({ task, outcome: 'skipped', reason: 'webhook deleted, inactive or unverified', now: now() }));
        return done(records);
      }
      if (target.organization !== task.organization) {
        // A task naming another organization's webhook: no router or admin API writes one (each matches within one
        // organization), so it was forged or damaged. Not sent: the webhook's secret must not sign another's event.
        const reason = `the task's organization (${task.organization}) is not its webhook's`;
        deps.log.warn({ webhookId: task.webhookId, taskId: task.taskId }, 'delivery task names another organization\'s webhook; dead-lettered unsent');
        deliveries.inc({ outcome: 'dead_letter', status_class: 'none' });
        await persistOutcome('dead_letter', task, signal, () => deadLetter(task, 'ORGANIZATION_MISMATCH', reason));
        return done(records);
      }
      if (task.notBefore !== undefined && task.notBefore > now()) {
        // The endpoint asked for a longer wait than the longest tier holds a task: another hop, no attempt (nor a
        // retry in the metrics). No longer than maxRetryAfterMs from now: a lowered bound, or a clock that was ahead
        // when it was written, shortens it.
        const notBefore = Math.min(task.notBefore, now() + deps.schedule.maxRetryAfterMs);
        const hop = nextHop(deps.schedule, notBefore, now());
        retryHops.inc({ tier: hop.tierLabel });
        if (deps.log.isLevelEnabled('debug')) deps.log.debug({ webhookId: task.webhookId, taskId: task.taskId, notBefore, tier: hop.tierLabel }, 'waiting out the endpoint\'s Retry-After');
        task = { ...task, notBefore };
        await toTier(task, task, hop.tierLabel, hop.dueAt, 'waiting out the endpoint\'s Retry-After', signal);
        return done(records);
      }
      payload ??= payloadJson(task.event);
      // Its partition went to another instance, which sends it: not sent from here, whichever sender would take it.
      if (withdrawOn?.aborted) throw withdrawOn.reason;
      const tried = await attempt(sender, task, target, payload, aside, withdrawOn);
      if (tried.withdrawn) {
        // Taken back unsent while it waited in a sending thread, for the same reason: no attempt to decide or log.
        // Were it the breaker's probe, and the breaker still waits for it, the next request may probe instead.
        const breaker = breakers.get(target.id);
        if (tried.probe && breaker?.kind === 'half-open' && breaker.probeInFlight && breakerUrls.get(target.id) === target.url) {
          setBreaker(target.id, { kind: 'half-open', probeInFlight: false }, target.url);
        }
        throw withdrawOn?.reason ?? new Error('the request was taken back unsent');
      }
      const outcome = decideOutcome(tried.result, now());
      const cls = statusClass(tried.result);
      if (outcome.decision === 'retry' && tried.sent && target.ordering === 'strict' && !resumed) {
        // A strict webhook's retries in place are counted in memory only: had another instance (before a restart or
        // a rebalance) tried this task already, the count goes on from its attempts rather than starting over.
        resumed = true;
        // Aside: a slow Postgres holds this webhook, not one of the slots every webhook shares.
        const logged = await aside(deps.attemptHistory(task));
        if (logged >= task.attempt) task = { ...task, attempt: logged + 1 };
      }
      // Not when the breaker judges another URL by now: an answer from the old one says nothing of the new.
      if (tried.sent && (breakerUrls.get(target.id) ?? target.url) === target.url) {
        setBreaker(target.id, breakerAfter(breakers.get(target.id) ?? CLOSED, outcome.decision, deps.breakerPolicy, now()), target.url);
      }
      const common = {
        task, result: tried.result, requestHeaders: tried.request.loggableHeaders, requestBodyFrame: tried.request.frame, responseBody: tried.responseBody, durationMs: tried.durationMs,
      };
      // Built only when it would be written: this runs for every delivery.
      if (deps.log.isLevelEnabled('debug')) deps.log.debug({ webhookId: task.webhookId, taskId: task.taskId, attempt: task.attempt, statusClass: cls, decision: outcome.decision }, 'delivery attempt');

      if (outcome.decision === 'delivered') {
        deliveries.inc({ outcome: 'delivered', status_class: cls });
        endToEndLatency.observe({ delivery: deliveryKind(task) }, Math.max(0, now() - task.event.occurredAt) / 1000);
        logAttempt(records, attemptRecord({ ...common, outcome: 'delivered', now: now() }));
        // Not waited for: ending a streak is bookkeeping, and a hung Postgres must not hold the webhook's next task.
        void deps.failures.success(target.id);
        return done(records);
      }
      if (outcome.decision === 'disable') {
        const goneAt = new Date(now()).toISOString();
        let became = 'disabled' as Deactivation;
        await persistOutcome('disable', task, signal, async () => {
          became = await deactivateWebhook(deps.pool, target.id, target.url, `Disabled automatically: the endpoint answered 410 Gone on ${goneAt}`);
        });
        deps.targets.invalidate(target.id);
        if (became === 'moved') {
          // The admin moved the webhook while this request was out: the old URL's 410 says nothing of the new one,
          // which gets the task now (its queue held meanwhile, so in order).
          deliveries.inc({ outcome: 'retry', status_class: cls });
          logAttempt(records, attemptRecord({ ...common, outcome: 'retry', reason: `${outcome.reason} from a URL the webhook has since left; sent to its new URL`, nextRetryAt: now(), now: now() }));
          task = { ...task, attempt: task.attempt + 1 };
          continue;
        }
        deliveries.inc({ outcome: 'dead_letter', status_class: cls });
        if (became === 'disabled') webhooksAutoDisabled.inc({ reason: 'gone' });
        logAttempt(records, attemptRecord({ ...common, outcome: 'disabled', reason: outcome.reason, now: now() }));
        setBreaker(target.id, CLOSED);
        await persistOutcome('dead_letter', task, signal, () => deadLetter(task, 'ENDPOINT_GONE', outcome.reason));
        return done(records);
      }
      if (outcome.decision === 'final') {
        deliveries.inc({ outcome: 'dead_letter', status_class: cls });
        logAttempt(records, attemptRecord({ ...common, outcome: 'dead_letter', reason: outcome.reason, now: now() }));
        // A final answer fails the webhook's streak too; the one that ends its window disables it, as a retryable one does.
        if (await deps.failures.failure(target.id)) disabledForFailing(target.id);
        const code = tried.result.kind === 'error' ? tried.result.code : 'NON_RETRYABLE_STATUS';
        await persistOutcome('dead_letter', task, signal, () => deadLetter(task, code, outcome.reason));
        return done(records);
      }

      // Retryable failure.
      if (await deps.failures.failure(target.id)) {
        disabledForFailing(target.id);
        deliveries.inc({ outcome: 'dead_letter', status_class: cls });
        logAttempt(records, attemptRecord({ ...common, outcome: 'disabled', reason: 'auto-disabled after failing for the whole window', now: now() }));
        await persistOutcome('dead_letter', task, signal, () => deadLetter(task, 'WEBHOOK_AUTO_DISABLED', outcome.reason));
        return done(records);
      }
      // A wait asked for by an earlier answer is over: this one's, if any, replaces it.
      const { notBefore: _over, ...previous } = task;
      if (!tried.sent) {
        // Shed by the open breaker: not an attempt, so not one of the task's retries either. Counted as one, a task
        // coming back for its last attempt while the breaker is open would be dead-lettered without being sent,
        // and every shed would move a task up the schedule. It waits until the breaker may admit it, and longer
        // the older it is (see shedUntil).
        const admitsAt = admitsAgainAt(breakers.get(target.id) ?? CLOSED, deps.breakerPolicy, now());
        // A strict webhook's task is the next probe itself: it waits for the breaker alone.
        const retryAt = target.ordering === 'strict' ? admitsAt : shedUntil(deps.schedule, admitsAt, task.routedAt, now(), random());
        deliveries.inc({ outcome: 'retry', status_class: cls });
        logAttempt(records, attemptRecord({ ...common, outcome: 'retry', reason: outcome.reason, nextRetryAt: retryAt, now: now() }));
        if (target.ordering === 'strict') {
          await aside(sleep(retryAt - now(), signal));
          task = previous;
          continue;
        }
        const hop = nextHop(deps.schedule, retryAt, now());
        retryHops.inc({ tier: hop.tierLabel });
        await toTier(task, previous, hop.tierLabel, hop.dueAt, outcome.reason, signal);
        return done(records);
      }
      const step = nextRetry(deps.schedule, task.attempt, now(), random(), outcome.retryAfterMs);
      if (step.kind === 'exhausted') {
        deliveries.inc({ outcome: 'dead_letter', status_class: cls });
        logAttempt(records, attemptRecord({ ...common, outcome: 'dead_letter', reason: `retries exhausted: ${outcome.reason}`, now: now() }));
        await persistOutcome('dead_letter', task, signal, () => deadLetter(task, 'RETRIES_EXHAUSTED', outcome.reason));
        return done(records);
      }
      deliveries.inc({ outcome: 'retry', status_class: cls });
      const retryAt = step.notBefore ?? step.dueAt;
      logAttempt(records, attemptRecord({ ...common, outcome: 'retry', reason: outcome.reason, nextRetryAt: retryAt, now: now() }));
      const next: DeliveryTask = { ...previous, attempt: task.attempt + 1, ...(step.notBefore === undefined ? {} : { notBefore: step.notBefore }) };
      if (target.ordering === 'strict') {
        // Strict ordering holds this webhook's queue: wait here, then try the same task again. Aside: the wait
        // (up to the longest delay of the schedule, or a longer Retry-After) holds this webhook, not one of the slots
        // every webhook shares.
        retriesScheduled.inc({ tier: 'in_place' });
        await aside(sleep(retryAt - now(), signal));
        // Waited out here, whatever the endpoint asked: never a hop through a tier, which would break the order.
        task = { ...previous, attempt: task.attempt + 1 };
        continue;
      }
      retriesScheduled.inc({ tier: step.tierLabel });
      await toTier(task, next, step.tierLabel, step.dueAt, outcome.reason, signal);
      return done(records);
    }
  };
  return Object.assign(handleVia(deps.sender), {
    via: handleVia,
    forget: (webhookId: string) => setBreaker(webhookId, CLOSED),
    // Webhooks whose breakers are not at rest: the ones to check against Postgres when deletions may have gone unheard.
    breakerWebhookIds: () => [...breakers.keys()],
  });
}

/** How recently a webhook must have been read for a task of it to be skipped as deleted, inactive or unverified. */
export const FRESH_BEFORE_SKIP_MS = 1000;

/** Waiting where the task runs, for callers without slots to give up. */
const inPlace: Aside = (waiting) => waiting;

/** Waits, unless the task's partition goes or the process stops: then the task stays uncommitted and is redelivered. */
async function sleep(ms: number, signal: AbortSignal): Promise<void> {
  await pause(ms, signal);
  signal.throwIfAborted();
}
