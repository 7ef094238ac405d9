import { isIP } from 'node:net';
import type { EventCatalog } from '../connector/events/catalog.js';
import type { SsrfGuard } from '../connector/delivery/ssrf-guard.js';

/**
 * The checks on what an admin submits that JSON Schema cannot express. Each
 * returns why the value is refused, or null; the routes name the field.
 */

/** Headers the connector sets itself; an API key may not replace them. */
const CONNECTOR_HEADERS = new Set(['content-type', 'content-length', 'host', 'user-agent']);
/**
 * Headers that govern the connection or how the body is read, not what it says: the HTTP client refuses to send some
 * (every attempt would fail the same way), and the others would make the endpoint read the body wrongly.
 */
const TRANSPORT_HEADERS = new Set(['connection', 'keep-alive', 'upgrade', 'expect', 'te', 'trailer', 'transfer-encoding', 'content-encoding', 'proxy-connection']);

export function urlProblem(raw: string, options: { allowPlainHttp: boolean; guard: SsrfGuard }): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'is not an absolute URL';
  }
  // The parser drops tabs, line breaks and spaces around it, but the string as given is what is stored, shown and compared.
  for (let i = 0; i < raw.length; i += 1) {
    const code = raw.charCodeAt(i);
    if (code <= 0x20 || code === 0x7f) return 'must not contain spaces or control characters (percent-encode them)';
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && options.allowPlainHttp)) {
    return options.allowPlainHttp ? 'must be an http or https URL' : 'must use https';
  }
  if (url.username !== '' || url.password !== '') return 'must not contain credentials; use apiKey instead';
  if (url.hash !== '') return 'must not contain a fragment';
  // Names are checked when the request is made (DNS can change); literal addresses can be refused now.
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) !== 0) {
    const refusal = options.guard.refusal(host);
    if (refusal) return `is not reachable: ${refusal}`;
  }
  return null;
}

/** The first pattern that is not in the catalog, with why. */
export function eventTypesProblem(patterns: readonly string[], catalog: EventCatalog): { index: number; message: string } | null {
  for (const [index, pattern] of patterns.entries()) {
    if (!catalog.isValidPattern(pattern)) {
      const message = pattern.endsWith('.*')
        ? `"${pattern}" names no family of the catalog (${catalog.families.map((f) => `${f.name}.*`).join(', ')})`
        : `"${pattern}" is not an event type of the catalog (GET /v1/event-types lists them)`;
      return { index, message };
    }
  }
  return null;
}

/** The header an API key goes in when its webhook names none. */
export const DEFAULT_API_KEY_HEADER = 'x-api-key';

/** The status reason an enable or disable without one of its own is kept with: who disabled it; none for enabling. */
export function defaultStatusReason(enabled: boolean, subject: string): string | null {
  return enabled ? null : `disabled by ${subject}`;
}

export function apiKeyHeaderProblem(header: string): string | null {
  const lower = header.toLowerCase();
  if (CONNECTOR_HEADERS.has(lower) || lower.startsWith('webhook-')) return `"${header}" is set by the connector itself; choose another header`;
  if (TRANSPORT_HEADERS.has(lower)) return `"${header}" governs the connection or how the body is read; choose another header`;
  return null;
}

/** What admins see of a secret: its kind and its last characters. */
export function maskSecret(secret: string): string {
  const prefix = secret.startsWith('whsec_') ? 'whsec_' : '';
  // Four characters of a short key would be much of it: they are shown only from 16 on.
  const tail = secret.length - prefix.length >= 16 ? secret.slice(-4) : '';
  return `${prefix}****${tail}`;
}

/** The event type a test event uses when the admin names none: one the webhook would receive. */
export function defaultTestEventType(patterns: readonly string[], catalog: EventCatalog): string {
  for (const pattern of patterns) if (catalog.isKnownType(pattern)) return pattern;
  for (const pattern of patterns) {
    if (pattern.endsWith('.*')) {
      const family = pattern.slice(0, -2);
      const first = catalog.events.find((e) => e.family === family);
      if (first) return first.type;
    }
  }
  return catalog.events[0]!.type;
}
