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

const DAY = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const MONTH = '(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
/** RFC 9110's HTTP-date: IMF-fixdate, and the obsolete RFC 850 and asctime forms a recipient must still read. */
const IMF_FIXDATE = new RegExp(`^${DAY}, \\d{2} ${MONTH} \\d{4} \\d{2}:\\d{2}:\\d{2} GMT$`);
const RFC_850_DATE = new RegExp(`^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), \\d{2}-${MONTH}-\\d{2} \\d{2}:\\d{2}:\\d{2} GMT$`);
const ASCTIME_DATE = new RegExp(`^${DAY} ${MONTH} [ \\d]\\d \\d{2}:\\d{2}:\\d{2} \\d{4}$`);

/**
 * `Retry-After` as seconds or an HTTP date, in milliseconds from `now`;
 * undefined when absent or unreadable. Only those forms: Date.parse alone
 * reads almost anything (`3600.5` as the year 3600), which would hold the
 * task the longest wait allowed on a header that means nothing.
 */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  const text = value?.trim();
  if (text === undefined || text === '') return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // asctime carries no zone; HTTP dates are GMT, and Date.parse would take it as local time.
  const date = IMF_FIXDATE.test(text) || RFC_850_DATE.test(text) ? Date.parse(text) : ASCTIME_DATE.test(text) ? Date.parse(`${text} GMT`) : Number.NaN;
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
