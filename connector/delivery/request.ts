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
 * The secret values of a header an echo may show: each signature alone as well as the header whole, and a key
 * with an auth scheme (`Bearer tok`) without its scheme too, since an answer may quote the credential alone.
 */
function secretsOf(name: string, value: string): string[] {
  if (name === 'webhook-signature') return value.split(' ').map((signature) => signature.slice(signature.indexOf(',') + 1));
  const credential = /^[A-Za-z][A-Za-z0-9._~+-]*\s+(\S.*)$/.exec(value)?.[1];
  return credential === undefined ? [value] : [value, credential];
}

/**
 * `text` (an endpoint's answer) with the secrets this request carried blanked
 * out: the API key and each signature. An endpoint that echoes its request
 * (a request bin, a framework's debug page) would otherwise put them in the
 * delivery log, which every token of the organization may read; the log's
 * request headers leave them out for the same reason. `cut`: the excerpt
 * stops where the answer was cut (HTTP_MAX_RESPONSE_BYTES), so a secret may
 * be there only in part, at its end.
 */
export function withoutSentSecrets(text: string, request: Pick<WebhookRequest, 'headers' | 'loggableHeaders'>, cut = false): string {
  if (text === '') return text;
  let redacted = text;
  for (const name in request.headers) {
    if (name in request.loggableHeaders) continue;
    for (const secret of secretsOf(name, request.headers[name]!)) {
      if (secret === '') continue;
      // Every echo form holds the secret's letters and digits as they are: an answer without its longest run of them
      // holds none whole, and the forms (a dozen strings built per secret and attempt) need not be made. A cut
      // answer may hold an opening only, so it is searched for them all.
      const anchor = longestPlainRun(secret);
      if (!cut && anchor !== '' && !redacted.includes(anchor)) continue;
      for (const form of echoFormsOf(secret)) {
        if (redacted.includes(form)) redacted = redacted.replaceAll(form, REDACTED);
        if (cut) redacted = withoutOpeningAtEnd(redacted, form);
      }
    }
  }
  return redacted;
}

/** The longest run of ASCII letters and digits in `secret`: what no escaping or encoding changes. */
function longestPlainRun(secret: string): string {
  let best = '';
  for (const run of secret.match(/[A-Za-z0-9]+/g) ?? []) if (run.length > best.length) best = run;
  return best;
}

/** What HTML-safe JSON encoders (Go's, for one) write for these on top of JSON's own escapes. */
const JSON_ESCAPES: Record<string, string> = { '<': '\\u003c', '>': '\\u003e', '&': '\\u0026', "'": '\\u0027' };
/** How an HTML page (a framework's debug page) writes these. */
const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/**
 * The ways an endpoint may echo a secret it was sent: as sent; without the spaces around it (HTTP drops them from a
 * header value); escaped in JSON, with slashes escaped too (base64 has them) and as HTML-safe encoders write it;
 * escaped in HTML (`'` as `&#39;` or `&#x27;`); percent-encoded, as in a URL or a form (space as `+`, and more
 * characters encoded), in capitals or not.
 */
export function echoFormsOf(secret: string): string[] {
  const trimmed = secret.trim();
  const json = JSON.stringify(trimmed).slice(1, -1);
  const htmlSafe = json.replace(/[<>&']/g, (c) => JSON_ESCAPES[c]!);
  const html = trimmed.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
  const percent = encodeURIComponent(trimmed);
  const form = new URLSearchParams([['', trimmed]]).toString().slice(1);
  const lowerHex = (encoded: string) => encoded.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase());
  const forms = [
    secret, trimmed, json, json.replaceAll('/', '\\/'), htmlSafe, htmlSafe.replaceAll('/', '\\/'), html, html.replaceAll('&#39;', '&#x27;'),
    percent, percent.replaceAll('%20', '+'), form, lowerHex(percent), lowerHex(form),
  ];
  return [...new Set(forms)].filter((echo) => echo !== '');
}

/** Shorter openings of a secret than this, left at the end of a cut excerpt, are kept: they tell next to nothing. */
const MIN_OPENING = 4;

/**
 * `text` whose end (where an excerpt was cut) is the opening of `secret`, with that opening blanked out: the cut
 * fell inside an echoed secret, which is then not whole in the excerpt for the redaction above to find.
 */
function withoutOpeningAtEnd(text: string, secret: string): string {
  const length = longestOpeningAtEnd(text, secret);
  return length >= MIN_OPENING ? text.slice(0, text.length - length) + REDACTED : text;
}

/**
 * The length of the longest opening of `secret` (shorter than it) that `text` ends with, in time linear in the
 * secret's length (KMP's prefix function over the secret, then the end of the text): an endpoint that echoes a long
 * key whose escaped form is longer still costs the event loop no more than a pass over each.
 */
export function longestOpeningAtEnd(text: string, secret: string): number {
  if (secret.length < 2) return 0;
  const prefix = new Int32Array(secret.length);
  for (let i = 1, k = 0; i < secret.length; i += 1) {
    while (k > 0 && secret[i] !== secret[k]) k = prefix[k - 1]!;
    if (secret[i] === secret[k]) k += 1;
    prefix[i] = k;
  }
  // Only the last secret.length - 1 characters can hold an opening shorter than the secret.
  let matched = 0;
  for (let i = Math.max(0, text.length - (secret.length - 1)); i < text.length; i += 1) {
    while (matched > 0 && (matched === secret.length || text[i] !== secret[matched])) matched = prefix[matched - 1]!;
    if (text[i] === secret[matched]) matched += 1;
  }
  return matched === secret.length ? prefix[matched - 1]! : matched;
}
