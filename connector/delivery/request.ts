import type { WebhookTarget } from '../subscriptions/webhook.js';
import { buildBody } from './envelope.js';
import { signatureHeader } from './signature.js';
import type { DeliveryTask } from './task.js';

export interface WebhookRequest {
  headers: Record<string, string>;
  body: string;
}

/** Headers the delivery log may keep: everything but credentials and signatures. */
export const isLoggableHeader = (name: string, apiKeyHeader: string | null): boolean =>
  name !== 'webhook-signature' && name !== apiKeyHeader?.toLowerCase();

/** The signed request for one attempt (Standard Webhooks headers, plus the webhook's API key header). */
export function buildWebhookRequest(task: DeliveryTask, target: WebhookTarget, nowSeconds: number, userAgent: string): WebhookRequest {
  const body = buildBody(target.bodyFormat, task.event, target, task.taskId);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': userAgent,
    'webhook-id': task.taskId,
    'webhook-timestamp': String(nowSeconds),
    'webhook-signature': signatureHeader(target.signingSecrets, task.taskId, nowSeconds, body),
  };
  if (target.apiKey) headers[target.apiKey.header.toLowerCase()] = target.apiKey.value;
  return { headers, body };
}
