import { poison } from '../errors.js';
import type { EventCatalog } from '../events/catalog.js';

/** An identity event after decoding, independent of its Avro schema version. */
export interface CanonicalEvent {
  eventId: string;
  eventType: string;
  family: string;
  /** Epoch milliseconds. */
  occurredAt: number;
  organization: string;
  actor: string | null;
  source: string;
  payload: Record<string, unknown>;
}

function isEmptyMap(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  for (const _key in value) return false;
  return true;
}

/** Receivers see the facts an event has: null fields and an empty attributes map are left out. */
function presentFields(record: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  // for…in rather than Object.entries: no array of pairs per event on the router's hot path.
  for (const key in record) {
    const value = record[key];
    if (value === null || value === undefined || (key === 'attributes' && isEmptyMap(value))) continue;
    out[key] = value;
  }
  return out;
}

/** The largest time a JavaScript Date holds (±100,000,000 days from 1970): bodies write occurredAt as an ISO date. */
const MAX_DATE_MS = 8.64e15;

function epochMillis(value: unknown): number {
  const millis = value instanceof Date ? value.getTime() : typeof value === 'number' ? value : typeof value === 'bigint' ? Number(value) : Number.NaN;
  // Out of a Date's range, the event could not be written into a cidaas or CloudEvents body: every attempt would
  // fail the same way, holding its webhook's queue for good.
  if (!Number.isInteger(millis) || Math.abs(millis) > MAX_DATE_MS) throw poison('INVALID_OCCURRED_AT', `occurredAt is not a timestamp: ${String(value)}`);
  return millis;
}

/** Checks the decoded record against the catalog and shapes it; unknown types are poison. */
export function toCanonicalEvent(record: Record<string, unknown>, catalog: EventCatalog): CanonicalEvent {
  const named = String(record['eventType'] ?? '');
  // Another product's spelling (an alias) is routed and delivered under the catalog's name.
  const entry = catalog.entryOf(named);
  if (!entry) throw poison('UNKNOWN_EVENT_TYPE', `event type "${named}" is not in the catalog`);
  const { type: eventType, family } = entry;
  const raw = record['payload'];
  const organization = String(record['organization'] ?? '');
  const eventId = String(record['eventId'] ?? '');
  // Blank, the id would give every such event of a webhook one webhook-id, and receivers deduplicating on it (as
  // Standard Webhooks asks) would drop all but the first; a blank organization would match no webhook, unseen.
  if (eventId.trim() === '') throw poison('INVALID_EVENT_ID', 'eventId is empty: receivers deduplicate on the webhook-id made from it');
  if (organization.trim() === '') throw poison('INVALID_ORGANIZATION', 'organization is empty: the event would match no webhook');
  const payload = raw && typeof raw === 'object' ? presentFields(raw as Record<string, unknown>) : {};
  // Seed 000: `organization` inside the payload names the user's organization, and receivers read it there. A
  // producer that leaves it out (it is optional in the schemas) gets the event's own, rather than none.
  payload['organization'] ??= organization;
  return {
    eventId,
    eventType,
    family,
    occurredAt: epochMillis(record['occurredAt']),
    organization,
    actor: (record['actor'] as string | null | undefined) ?? null,
    source: String(record['source'] ?? 'unknown'),
    payload,
  };
}
