export const BODY_FORMATS = ['parallelworks', 'cidaas', 'cloudevents'] as const;
export type BodyFormat = (typeof BODY_FORMATS)[number];
export type OrderingMode = 'relaxed' | 'strict';

/** Webhook ids are UUIDs (Postgres's `uuid`): anything else names no webhook, and would fail a query on the column. */
export function isWebhookId(id: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id);
}

/** What the router needs to decide who gets an event: no URL, no secrets. */
export interface WebhookRoute {
  id: string;
  organization: string;
  eventTypes: readonly string[];
}

/** What the deliverer needs to send one request, secrets decrypted in memory only. */
export interface WebhookTarget {
  id: string;
  organization: string;
  name: string;
  url: string;
  bodyFormat: BodyFormat;
  ordering: OrderingMode;
  /** Current secret first; the previous one while its rotation overlap lasts. */
  signingSecrets: string[];
  /**
   * With the previous secret in signingSecrets: when its overlap ends (ms). A target is cached, and kept while
   * Postgres is unreachable, so the request checks this rather than trusting the list it was loaded with.
   */
  previousSecretUntil?: number;
  apiKey: { header: string; value: string } | null;
  /** Active and verified: anything else is not sent to. */
  deliverable: boolean;
}
