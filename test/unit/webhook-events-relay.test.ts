import { describe, expect, it } from 'vitest';
import { taskIdFor } from '../../connector/delivery/task.js';
import { webhookEventTasks, type WebhookAdminEvent } from '../../connector/subscriptions/webhook-events-relay.js';

const event = (eventType: string, organization = 'acme', eventId = `e-${eventType}`): WebhookAdminEvent => ({
  seq: '1', eventId, organization, eventType, occurredAt: 1_790_000_000_000, actor: 'alice@acme.example', payload: { resourceType: 'webhook', resourceId: 'w-9', organization },
});

describe('webhookEventTasks', () => {
  it('makes one task per event and subscribed webhook of the same organization, matched as the router matches', () => {
    const routes = [
      { id: 'exact', organization: 'acme', eventTypes: ['WEBHOOK_CREATED'] },
      { id: 'family', organization: 'acme', eventTypes: ['admin.*'] },
      { id: 'everything', organization: 'acme', eventTypes: ['*'] },
      { id: 'users-only', organization: 'acme', eventTypes: ['user.*', 'USER_CREATED'] },
      { id: 'other-org', organization: 'globex', eventTypes: ['*'] },
    ];
    const tasks = webhookEventTasks([event('WEBHOOK_CREATED'), event('WEBHOOK_DELETED')], routes, 42);
    expect(tasks.map((t) => `${t.event.eventType}→${t.webhookId}`)).toEqual([
      'WEBHOOK_CREATED→exact', 'WEBHOOK_CREATED→family', 'WEBHOOK_CREATED→everything',
      'WEBHOOK_DELETED→family', 'WEBHOOK_DELETED→everything',
    ]);
  });

  it('gives each task the stable id of its (event, webhook) pair and the event as recorded, as a first attempt', () => {
    const [task] = webhookEventTasks([event('WEBHOOK_UPDATED')], [{ id: 'w-1', organization: 'acme', eventTypes: ['*'] }], 42);
    expect(task).toEqual({
      v: 1, taskId: taskIdFor('e-WEBHOOK_UPDATED', 'w-1'), webhookId: 'w-1', organization: 'acme', attempt: 1, routedAt: 42,
      event: { eventId: 'e-WEBHOOK_UPDATED', eventType: 'WEBHOOK_UPDATED', family: 'admin', occurredAt: 1_790_000_000_000, organization: 'acme', actor: 'alice@acme.example', source: 'identity-webhooks', payload: { resourceType: 'webhook', resourceId: 'w-9', organization: 'acme' } },
    });
    expect(task!.resent).toBeUndefined();
  });

  it('makes nothing when nobody subscribed', () => {
    expect(webhookEventTasks([event('WEBHOOK_CREATED')], [{ id: 'w-1', organization: 'acme', eventTypes: ['group.*'] }], 42)).toEqual([]);
  });
});
