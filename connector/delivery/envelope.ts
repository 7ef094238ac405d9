import type { CanonicalEvent } from '../ingest/canonical-event.js';
import type { BodyTypeName } from '../events/catalog.js';
import type { BodyFormat } from '../subscriptions/webhook.js';

/** Every format writes the catalog's name (callers without the catalog: benchmarks, tests of the frames). */
const sameName: BodyTypeName = (_format, type) => type;

export interface EnvelopeWebhook {
  id: string;
  organization: string;
  name: string;
}

/**
 * A request body around its payload: `body = head + payloadJson(event) + tail`.
 * Every format carries the event's payload verbatim, so the delivery log
 * keeps the frame and the event, not the payload a second time inside the
 * body (see attempt-record.ts).
 */
export interface BodyFrame {
  head: string;
  tail: string;
}

/** The event's payload as every body embeds it. */
export function payloadJson(event: CanonicalEvent): string {
  // A task without a payload (only a malformed one) still gets a valid body.
  return JSON.stringify(event.payload) ?? 'null';
}

/** `{...envelope, [field]: payload}` as JSON, the payload spliced in as the last member. */
function frameAround(envelope: Record<string, unknown>, field: string): BodyFrame {
  const json = JSON.stringify(envelope);
  return { head: `${json.slice(0, -1)},"${field}":`, tail: '}' };
}

/**
 * The body's frame in the webhook's chosen format:
 * - `parallelworks` (seed 000): `{ type, webhook: { id, organization, name }, payload }`;
 * - `cidaas` (seed 002): `{ event_time, event_type, current_context, data }`;
 * - `cloudevents`: CloudEvents 1.0 structured JSON.
 * The event type is `typeName`'s: the catalog's name, or the format's product's spelling of it (cidaas says
 * GROUP_USER_REMOVED for USER_REMOVED_FROM_GROUP, and its receivers switch on that).
 */
export function bodyFrame(format: BodyFormat, event: CanonicalEvent, webhook: EnvelopeWebhook, messageId: string, typeName: BodyTypeName = sameName): BodyFrame {
  switch (format) {
    case 'parallelworks':
      return frameAround({ type: typeName('parallelworks', event.eventType), webhook: { id: webhook.id, organization: webhook.organization, name: webhook.name } }, 'payload');
    case 'cidaas':
      return frameAround({
        event_time: new Date(event.occurredAt).toISOString(),
        event_type: typeName('cidaas', event.eventType),
        current_context: {
          organization: event.organization,
          actor: event.actor,
          source: event.source,
          event_id: event.eventId,
          webhook_id: webhook.id,
        },
      }, 'data');
    case 'cloudevents':
      return frameAround({
        specversion: '1.0',
        id: messageId,
        source: event.source,
        type: typeName('cloudevents', event.eventType),
        time: new Date(event.occurredAt).toISOString(),
        subject: event.organization,
        datacontenttype: 'application/json',
      }, 'data');
  }
}

/** The request body in the webhook's chosen format (see bodyFrame). */
export function buildBody(format: BodyFormat, event: CanonicalEvent, webhook: EnvelopeWebhook, messageId: string, typeName: BodyTypeName = sameName): string {
  const frame = bodyFrame(format, event, webhook, messageId, typeName);
  return frame.head + payloadJson(event) + frame.tail;
}
