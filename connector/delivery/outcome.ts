/**
 * What to do after one attempt. Pure: the HTTP result in, the decision out.
 * - 2xx: delivered.
 * - 410 Gone: the endpoint asks us to stop; disable the webhook.
 * - 408, 429, 5xx, timeouts, connection errors: retry later.
 * - other 4xx and 3xx (redirects are not followed): final failure.
 */
export type AttemptResult =
  | { kind: 'response'; status: number; retryAfter?: string | undefined }
  | { kind: 'error'; code: string; message: string; retryable: boolean };

export type Outcome =
  | { decision: 'delivered' }
  | { decision: 'retry'; reason: string; retryAfterMs?: number }
  | { decision: 'final'; reason: string }
  | { decision: 'disable'; reason: string };

/** `Retry-After` as seconds or an HTTP date, in milliseconds from `now`; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export function decideOutcome(result: AttemptResult, now: number): Outcome {
  if (result.kind === 'error') {
    return result.retryable
      ? { decision: 'retry', reason: `${result.code}: ${result.message}` }
      : { decision: 'final', reason: `${result.code}: ${result.message}` };
  }
  const { status } = result;
  if (status >= 200 && status < 300) return { decision: 'delivered' };
  if (status === 410) return { decision: 'disable', reason: 'endpoint answered 410 Gone' };
  if (status === 408 || status === 429 || status >= 500) {
    const retryAfterMs = parseRetryAfter(result.retryAfter, now);
    return retryAfterMs === undefined
      ? { decision: 'retry', reason: `HTTP ${status}` }
      : { decision: 'retry', reason: `HTTP ${status}`, retryAfterMs };
  }
  return { decision: 'final', reason: `HTTP ${status}` };
}

/** The label values, made once: every delivery asks, some twice. */
const STATUS_CLASSES = ['0xx', '1xx', '2xx', '3xx', '4xx', '5xx', '6xx', '7xx', '8xx', '9xx'];

export function statusClass(result: AttemptResult): string {
  if (result.kind !== 'response') return 'error';
  return STATUS_CLASSES[Math.floor(result.status / 100)] ?? `${Math.floor(result.status / 100)}xx`;
}
