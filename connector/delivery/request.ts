import type { BodyTypeName } from '../events/catalog.js';
import type { WebhookTarget } from '../subscriptions/webhook.js';
import { bodyFrame, payloadJson, type BodyFrame } from './envelope.js';
import { signatureHeader } from './signature.js';
import type { DeliveryTask } from './task.js';

export interface WebhookRequest {
  headers: Record<string, string>;
  /** What the delivery log may keep: every header but the signature and the API key. */
  loggableHeaders: Record<string, string>;
  body: string;
  /** `body` around the event's payload (see envelope.ts). */
  frame: BodyFrame;
}

/**
 * The signed request for one attempt (Standard Webhooks headers, plus the
 * webhook's API key header). `payload` is the event's payload as JSON, when
 * the caller already has it (a task retried in place sends the same payload).
 * `typeName` gives the body's event type (see bodyFrame).
 */
export function buildWebhookRequest(
  task: DeliveryTask, target: WebhookTarget, nowSeconds: number, userAgent: string, payload = payloadJson(task.event), typeName?: BodyTypeName,
): WebhookRequest {
  const frame = bodyFrame(target.bodyFormat, task.event, target, task.taskId, typeName);
  const body = frame.head + payload + frame.tail;
  const loggableHeaders: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': userAgent,
    'webhook-id': task.taskId,
    'webhook-timestamp': String(nowSeconds),
  };
  // The previous secret signs until its overlap ends, however long ago the target was loaded.
  const overlapOver = target.previousSecretUntil !== undefined && nowSeconds * 1000 >= target.previousSecretUntil;
  const secrets = overlapOver ? target.signingSecrets.slice(0, 1) : target.signingSecrets;
  const headers: Record<string, string> = { ...loggableHeaders, 'webhook-signature': signatureHeader(secrets, task.taskId, nowSeconds, body) };
  if (target.apiKey) {
    const name = target.apiKey.header.toLowerCase();
    headers[name] = target.apiKey.value;
    // An API key sent under a standard header's name replaces it, and is a credential all the same.
    if (name in loggableHeaders) delete loggableHeaders[name];
  }
  return { headers, loggableHeaders, body, frame };
}

const REDACTED = '[redacted]';

/**
 * `text` (an endpoint's answer) with the secrets this request carried blanked
 * out: the API key and each signature. An endpoint that echoes its request
 * (a request bin, a framework's debug page) would otherwise put them in the
 * delivery log, which every token of the organization may read; the log's
 * request headers leave them out for the same reason.
 */
export function withoutSentSecrets(text: string, request: Pick<WebhookRequest, 'headers' | 'loggableHeaders'>): string {
  if (text === '') return text;
  let redacted = text;
  for (const name in request.headers) {
    if (name in request.loggableHeaders) continue;
    const value = request.headers[name]!;
    // Each signature alone as well as the header whole: an echo may list them apart.
    const secrets = name === 'webhook-signature' ? value.split(' ').map((signature) => signature.slice(signature.indexOf(',') + 1)) : [value];
    for (const secret of secrets) {
      if (secret !== '' && redacted.includes(secret)) redacted = redacted.replaceAll(secret, REDACTED);
    }
  }
  return redacted;
}
