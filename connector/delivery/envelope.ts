import type { CanonicalEvent } from '../ingest/canonical-event.js';
import type { BodyFormat } from '../subscriptions/webhook.js';

export interface EnvelopeWebhook {
  id: string;
  organization: string;
  name: string;
}

/**
 * The request body in the webhook's chosen format:
 * - `parallelworks` (seed 000): `{ type, webhook: { id, organization, name }, payload }`;
 * - `cidaas` (seed 002): `{ event_time, event_type, current_context, data }`;
 * - `cloudevents`: CloudEvents 1.0 structured JSON.
 */
export function buildBody(format: BodyFormat, event: CanonicalEvent, webhook: EnvelopeWebhook, messageId: string): string {
  switch (format) {
    case 'parallelworks':
      return JSON.stringify({
        type: event.eventType,
        webhook: { id: webhook.id, organization: webhook.organization, name: webhook.name },
        payload: event.payload,
      });
    case 'cidaas':
      return JSON.stringify({
        event_time: new Date(event.occurredAt).toISOString(),
        event_type: event.eventType,
        current_context: {
          organization: event.organization,
          actor: event.actor,
          source: event.source,
          event_id: event.eventId,
          webhook_id: webhook.id,
        },
        data: event.payload,
      });
    case 'cloudevents':
      return JSON.stringify({
        specversion: '1.0',
        id: messageId,
        source: event.source,
        type: event.eventType,
        time: new Date(event.occurredAt).toISOString(),
        subject: event.organization,
        datacontenttype: 'application/json',
        data: event.payload,
      });
  }
}
