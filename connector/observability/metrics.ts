import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The one metrics registry of the process. Labels never carry webhook ids,
 * user ids or event ids: their values would grow without bound.
 */
export const metricsRegistry = new Registry();
collectDefaultMetrics({ register: metricsRegistry });

export const recordsConsumed = new Counter({
  name: 'webhooks_records_consumed_total',
  help: 'Source records read by the router, per topic.',
  labelNames: ['topic'] as const,
  registers: [metricsRegistry],
});

export const decodeFailures = new Counter({
  name: 'webhooks_decode_failures_total',
  help: 'Source records that could not be decoded and went to the ingest dead-letter topic, per topic and reason.',
  labelNames: ['topic', 'reason'] as const,
  registers: [metricsRegistry],
});

export const routingFanout = new Histogram({
  name: 'webhooks_routing_fanout',
  help: 'Matching webhooks per routed event.',
  buckets: [0, 1, 2, 5, 10, 50, 100, 1000],
  registers: [metricsRegistry],
});

export const routerTransactions = new Counter({
  name: 'webhooks_router_transactions_total',
  help: 'Transactions the router committed (tasks, dead letters and source offsets of one batch slice of one partition); events per transaction is the batching the router linger buys.',
  registers: [metricsRegistry],
});

export const tasksProduced = new Counter({
  name: 'webhooks_tasks_produced_total',
  help: 'Delivery tasks produced by the router.',
  registers: [metricsRegistry],
});

export const deliveries = new Counter({
  name: 'webhooks_deliveries_total',
  help: 'Delivery attempts by outcome (delivered, retry, dead_letter, skipped) and HTTP status class.',
  labelNames: ['outcome', 'status_class'] as const,
  registers: [metricsRegistry],
});

export const httpRequestDuration = new Histogram({
  name: 'webhooks_http_request_duration_seconds',
  help: 'Duration of webhook HTTP requests, by status class.',
  labelNames: ['status_class'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15],
  registers: [metricsRegistry],
});

export const endToEndLatency = new Histogram({
  name: 'webhooks_end_to_end_latency_seconds',
  help: 'From the event\'s occurred-at time to the endpoint\'s 2xx answer, by delivery: first (first attempts of routed events, what the latency goal is about), retry (after failed attempts), resent (redelivered or recovered by an admin, long after the event).',
  labelNames: ['delivery'] as const,
  buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600],
  registers: [metricsRegistry],
});

export const retriesScheduled = new Counter({
  name: 'webhooks_retries_scheduled_total',
  help: 'Deliveries sent to a retry tier, per tier (strict-ordering webhooks retry in place: tier "in_place").',
  labelNames: ['tier'] as const,
  registers: [metricsRegistry],
});

export const retryHops = new Counter({
  name: 'webhooks_retry_hops_total',
  help: 'Tasks sent on through a retry tier unsent, per tier they went to: waiting out an endpoint\'s Retry-After longer than the longest retry delay, or shed by an open circuit breaker until it may admit them; no attempt and no retry.',
  labelNames: ['tier'] as const,
  registers: [metricsRegistry],
});

export const deadLetters = new Counter({
  name: 'webhooks_dead_letters_total',
  help: 'Records written to a dead-letter topic, per topic kind (ingest, delivery, attempt: the delivery log) and reason.',
  labelNames: ['kind', 'reason'] as const,
  registers: [metricsRegistry],
});

export const circuitBreakersOpen = new Gauge({
  name: 'webhooks_circuit_breakers_open',
  help: 'Endpoints whose circuit breaker is open in this process.',
  registers: [metricsRegistry],
});

export const webhooksAutoDisabled = new Counter({
  name: 'webhooks_auto_disabled_total',
  help: 'Webhooks set inactive by the connector, per reason (gone: 410 answered; failing: failed for the whole window).',
  labelNames: ['reason'] as const,
  registers: [metricsRegistry],
});

export const httpSends = new Counter({
  name: 'webhooks_http_sends_total',
  help: 'Requests a deliverer with sending threads sent from its main thread (light load, DELIVERER_HTTP_INLINE_BELOW) or through a sending thread, counted once answered (a failure answer too); one taken back unsent (its partition went to another instance) is not counted.',
  labelNames: ['via'] as const,
  registers: [metricsRegistry],
});

export const deliveriesInFlight = new Gauge({
  name: 'webhooks_deliveries_in_flight',
  help: 'Delivery requests under way in this process: open, or signed and waiting in a sending thread for one of its deliverer\'s slots (DELIVERER_SEND_AHEAD).',
  registers: [metricsRegistry],
});

export const slowRequestsAside = new Gauge({
  name: 'webhooks_deliveries_slow_in_flight',
  help: 'Requests unanswered past DELIVERER_SLOW_REQUEST_MS that wait without holding one of the DELIVERER_MAX_IN_FLIGHT slots.',
  registers: [metricsRegistry],
});

export const slowRequests = new Counter({
  name: 'webhooks_deliveries_slow_total',
  help: 'Requests that passed DELIVERER_SLOW_REQUEST_MS unanswered, by whether they gave their slot to other webhooks (released) or kept it because DELIVERER_MAX_SLOW_REQUESTS already waited (kept).',
  labelNames: ['slot'] as const,
  registers: [metricsRegistry],
});

export const deferredTasks = new Gauge({
  name: 'webhooks_deliverer_deferred_tasks',
  help: 'Tasks left in Kafka because their webhook already had DELIVERER_MAX_QUEUED_PER_WEBHOOK queued; read again as it drains.',
  registers: [metricsRegistry],
});

export const newTasksBlocked = new Gauge({
  name: 'webhooks_deliverer_new_tasks_blocked',
  help: 'By topic: 1 while a deliverer or retry tier reads no new tasks because DELIVERER_MAX_DEFERRED tasks already wait in Kafka behind full webhook queues (its passes reading those go on), 0 otherwise. Lasting, its endpoints are slower than their events.',
  labelNames: ['topic'] as const,
  registers: [metricsRegistry],
});

export const tasksReadAgain = new Counter({
  name: 'webhooks_deliverer_tasks_read_again_total',
  help: 'Tasks left in Kafka behind a full webhook queue, then read again and queued: each was read from Kafka twice (or more). Against webhooks_deliveries_total, the share of reading a backlog costs twice.',
  registers: [metricsRegistry],
});

export const readWaits = new Counter({
  name: 'webhooks_deliverer_read_waits_total',
  help: 'Times a deliverer or retry tier paused reading a partition, by topic and reason: not_due (a retry tier\'s next task is not due yet), deferred_full (DELIVERER_MAX_DEFERRED tasks already wait in Kafka; it looks again every 200 ms), buffer_pressure (the buffer is nearly full; the partition waits 100 ms for it to drain). A deliverer whose reading waits on deferred_full for long reads no new tasks.',
  labelNames: ['topic', 'reason'] as const,
  registers: [metricsRegistry],
});

export const fetchedBytes = new Counter({
  name: 'webhooks_deliverer_fetched_bytes_total',
  help: 'Bytes of fetch responses read by deliverers and retry tiers, by topic. A deliverer stops reading a partition where a task has to wait and fetches again from there, so against the bytes of tasks delivered this shows how much is read for nothing (see DELIVERER_FETCH_MAX_BYTES_PER_PARTITION).',
  labelNames: ['topic'] as const,
  registers: [metricsRegistry],
});

export const heldWebhooks = new Gauge({
  name: 'webhooks_deliverer_held_webhooks',
  help: 'Webhooks whose last request waited aside (past DELIVERER_SLOW_REQUEST_MS, or a strict retry in place): they share half of DELIVERER_MAX_BUFFERED, the rest of their tasks waiting in Kafka.',
  registers: [metricsRegistry],
});

export const subscriptionIndexSize = new Gauge({
  name: 'webhooks_subscription_index_size',
  help: 'Routable webhooks in the router\'s in-memory subscription index.',
  registers: [metricsRegistry],
});

export const subscriptionIndexLoadedAt = new Gauge({
  name: 'webhooks_subscription_index_loaded_timestamp_seconds',
  help: 'When the subscription index was last loaded from Postgres; time() minus this is its age (it grows while Postgres is unreachable).',
  registers: [metricsRegistry],
});

export const subscriptionRefreshes = new Counter({
  name: 'webhooks_subscription_refreshes_total',
  help: 'Subscription index refreshes by kind: `changes` applies notified webhooks one by one, `full` reloads every routable webhook (start, reconnect, safety net).',
  labelNames: ['kind'] as const,
  registers: [metricsRegistry],
});

export const subscriptionReloadFailures = new Counter({
  name: 'webhooks_subscription_reload_failures_total',
  help: 'Subscription index reloads that failed (Postgres unreachable); routing goes on with the last index.',
  registers: [metricsRegistry],
});

export const consumerLag = new Gauge({
  name: 'webhooks_consumer_lag',
  help: 'Records not yet committed by a consumer group: high watermark minus committed offset, per group, topic and partition.',
  labelNames: ['group', 'topic', 'partition'] as const,
  registers: [metricsRegistry],
});

export const consumerUnfinished = new Gauge({
  name: 'webhooks_consumer_unfinished',
  help: 'Records a consumer group still owes, per group, topic and partition: webhooks_consumer_lag less the records the group\'s commit metadata says are finished above the committed offset (tasks of other webhooks delivered while a strict or slow webhook holds the committed offset back). Equal to the lag for routers and the delivery-log sink. The lag alert reads this.',
  labelNames: ['group', 'topic', 'partition'] as const,
  registers: [metricsRegistry],
});

export const outcomeWriteFailures = new Counter({
  name: 'webhooks_delivery_outcome_write_failures_total',
  help: 'Failed writes of a delivery outcome already decided (step: retry tier, dead letter, webhook disabled), Kafka or Postgres being unreachable; each is tried again, and the endpoint is not sent the task again meanwhile.',
  labelNames: ['step'] as const,
  registers: [metricsRegistry],
});

export const deliveryLogWriteFailures = new Counter({
  name: 'webhooks_delivery_log_write_failures_total',
  help: 'Batches of attempt records the sink could not write to Postgres (unreachable, shutting down); each is tried again until written. Deliveries go on meanwhile.',
  registers: [metricsRegistry],
});

export const attemptRowsRefused = new Counter({
  name: 'webhooks_attempt_rows_refused_total',
  help: 'Attempt records the sink could not write to the delivery log because Postgres refused the row itself (SQLSTATE class 22, 23 or 54), per SQLSTATE, or because it could not be written out as JSON (code UNSERIALIZABLE); each such row goes to the attempts dead-letter topic with the reason.',
  labelNames: ['code'] as const,
  registers: [metricsRegistry],
});

export const consumerCrashes = new Counter({
  name: 'webhooks_consumer_crashes_total',
  help: 'Consumer crashes per group. restarted="true": kafkajs restarted the consumer itself (broker or network trouble); "false": it gave the consumer up, and the process stops to be restarted (a fenced router rejoins instead).',
  labelNames: ['group', 'restarted'] as const,
  registers: [metricsRegistry],
});

export const adminRequests = new Counter({
  name: 'webhooks_admin_requests_total',
  help: 'Admin API requests by route template, method and status class.',
  labelNames: ['route', 'method', 'status_class'] as const,
  registers: [metricsRegistry],
});

export const adminRequestDuration = new Histogram({
  name: 'webhooks_admin_request_duration_seconds',
  help: 'Admin API request duration by route template and method.',
  labelNames: ['route', 'method'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15],
  registers: [metricsRegistry],
});
