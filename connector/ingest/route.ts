import { taskIdFor, type DeliveryTask } from '../delivery/task.js';
import type { SubscriptionIndex } from '../subscriptions/subscription-index.js';
import type { CanonicalEvent } from './canonical-event.js';

/** The routing decision: one first-attempt task per webhook the event matches. */
export function planTasks(event: CanonicalEvent, index: SubscriptionIndex, now: number): DeliveryTask[] {
  return index.match(event.organization, event.eventType, event.family).map((route) => ({
    v: 1,
    taskId: taskIdFor(event.eventId, route.id),
    webhookId: route.id,
    organization: route.organization,
    attempt: 1,
    routedAt: now,
    event,
  }));
}
