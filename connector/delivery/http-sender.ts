import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { Agent, errors as undiciErrors } from 'undici';
import type { AttemptResult } from './outcome.js';
import type { SsrfGuard } from './ssrf-guard.js';

export interface SendResult {
  result: AttemptResult;
  /** Up to maxResponseBytes of the response body, for the delivery log. */
  responseExcerpt: string;
  /** The excerpt is not the whole body: it went on past maxResponseBytes, or ended early (deadline, connection lost). */
  responseCut?: boolean;
  durationMs: number;
  /** Not sent: withdrawn while it waited to go out (see PostOptions.withdrawOn); `result` says so too. */
  withdrawn?: true;
}

export interface PostOptions {
  /**
   * Called once if the request is still open after the sender's slowAfterMs on the wire (never where that is 0),
   * from a timer: never before post has returned.
   */
  onSlow?: () => void;
  /**
   * A request still waiting to go out (in a sending thread's lane) when this aborts is not sent, and is answered
   * `withdrawn`; one already out is not stopped. Senders that send at once ignore it.
   */
  withdrawOn?: AbortSignal;
}

export interface HttpSender {
  /** Sends; never rejects (a failure is an answer). */
  post(url: string, headers: Record<string, string>, body: string, options?: PostOptions): Promise<SendResult>;
  close(): Promise<void>;
}

export interface HttpSenderOptions {
  allowPlainHttp: boolean;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  maxResponseBytes: number;
  guard: SsrfGuard;
  /** When an open request counts as slow (see HttpSender.post); 0 or absent: never. */
  slowAfterMs?: number;
}

const SSRF_CODE = 'SSRF_BLOCKED';
/** Distinct endpoint URLs whose parse and preflight verdict are kept; past it the memo starts over. */
const CHECKED_URLS_LIMIT = 10_000;

/**
 * DNS resolution that refuses forbidden addresses. It runs inside the
 * connection, so the address checked is the address connected to (no
 * check-then-rebind window).
 */
function guardedLookup(guard: SsrfGuard): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error, '', 0);
      const allowed = addresses.filter((a) => guard.refusal(a.address) === null);
      if (allowed.length === 0) {
        // Not which address: the message reaches the admin API (verification errors, the delivery log), and what
        // internal names resolve to is nobody's business there.
        const reason = addresses.length === 0 ? 'resolves to no address' : 'resolves only to addresses that are private, loopback, link-local or reserved';
        const blocked = Object.assign(new Error(`${hostname}: ${reason}`), { code: SSRF_CODE });
        return callback(blocked, '', 0);
      }
      if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, allowed);
      return callback(null, allowed[0]!.address, allowed[0]!.family);
    });
  };
}

function errorResult(error: unknown): AttemptResult {
  const err = error as { code?: string; message?: string; cause?: { code?: string } };
  const code = err.cause?.code ?? err.code ?? 'REQUEST_FAILED';
  const message = err.message ?? String(error);
  if (code === SSRF_CODE) return { kind: 'error', code, message, retryable: false };
  // The request itself is one the client will not send (a header such as Expect or Upgrade): so is every next try.
  if (code === 'UND_ERR_INVALID_ARG' || code === 'UND_ERR_NOT_SUPPORTED') return { kind: 'error', code: 'INVALID_REQUEST', message, retryable: false };
  if (error instanceof undiciErrors.ConnectTimeoutError) return { kind: 'error', code: 'CONNECT_TIMEOUT', message, retryable: true };
  if (error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.BodyTimeoutError || code === 'ABORT_ERR' || (error as Error).name === 'TimeoutError') {
    return { kind: 'error', code: 'TIMEOUT', message, retryable: true };
  }
  return { kind: 'error', code, message, retryable: true };
}

const RETRY_AFTER = 'retry-after';

/**
 * One request's handler on undici's dispatch interface. `request()` would
 * wrap every response in a Readable stream, an async resource and two
 * promises; for a webhook answer that is read once and mostly empty those
 * cost more than the HTTP exchange itself. Here the answer is gathered by
 * callbacks: status, Retry-After, and the first `maxBytes` of the body (the
 * rest is read and dropped, so the connection can be reused).
 *
 * Once the status is in, it decides the attempt: a body still coming at the
 * deadline, or cut off, changes nothing the endpoint said. Counted as a
 * timeout, a 2xx whose body trickled would be retried and delivered twice.
 */
class AttemptHandler {
  private abortRequest: ((reason: Error) => void) | null = null;
  private expired: Error | null = null;
  private settled = false;
  private status = 0;
  private retryAfter: string | undefined = undefined;
  private parts: Buffer[] = [];
  private kept = 0;
  private cut = false;
  private readonly timer: NodeJS.Timeout;
  private readonly slowTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly started: number,
    private readonly maxBytes: number,
    timeoutMs: number,
    private readonly resolve: (result: SendResult) => void,
    onSlow: (() => void) | undefined,
    slowAfterMs: number,
  ) {
    // The whole attempt's deadline, connection wait included; headersTimeout and bodyTimeout only bound the gaps.
    this.timer = setTimeout(() => this.expire(), timeoutMs);
    if (onSlow && slowAfterMs > 0 && slowAfterMs < timeoutMs) this.slowTimer = setTimeout(onSlow, slowAfterMs);
  }

  private expire(): void {
    this.expired = new DOMException('The operation was aborted due to timeout', 'TimeoutError') as Error;
    // Answered, the body still coming: the answer stands with what came of it (the connection is closed, not reused).
    if (this.status >= 200) this.answeredInPart();
    if (this.abortRequest) this.abortRequest(this.expired);
    // Still waiting for a connection: answer now; the request is aborted once it gets one.
    else this.finish(errorResult(this.expired));
  }

  private finish(result: AttemptResult, excerpt = ''): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    clearTimeout(this.slowTimer);
    const sent: SendResult = { result, responseExcerpt: excerpt, durationMs: performance.now() - this.started };
    if (this.cut) sent.responseCut = true;
    this.resolve(sent);
  }

  onConnect(abort: (reason: Error) => void): void {
    if (this.expired) return abort(this.expired);
    this.abortRequest = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[]): boolean {
    // 1xx informational answers are followed by the real one.
    if (statusCode < 200) return true;
    this.status = statusCode;
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!;
      if (name.length === RETRY_AFTER.length && name.toString('latin1').toLowerCase() === RETRY_AFTER) {
        this.retryAfter = rawHeaders[i + 1]!.toString('latin1');
        break;
      }
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.kept < this.maxBytes) {
      const part = chunk.length > this.maxBytes - this.kept ? chunk.subarray(0, this.maxBytes - this.kept) : chunk;
      // undici reuses nothing it hands out, so keeping the view is safe.
      this.parts.push(part);
      this.kept += part.length;
      if (part.length < chunk.length) this.cut = true;
    } else if (chunk.length > 0) this.cut = true;
    return true;
  }

  private answered(): void {
    const { parts } = this;
    const excerpt = parts.length === 0 ? '' : parts.length === 1 ? parts[0]!.toString('utf8') : Buffer.concat(parts).toString('utf8');
    this.finish({ kind: 'response', status: this.status, retryAfter: this.retryAfter }, excerpt);
  }

  onComplete(): void {
    this.answered();
  }

  /** The body ended before it was whole (deadline, connection lost): what came of it may end inside anything. */
  private answeredInPart(): void {
    this.cut = true;
    this.answered();
  }

  onError(error: Error): void {
    if (this.status >= 200) this.answeredInPart();
    else this.finish(errorResult(this.expired ?? error));
  }
}

/** POSTs webhook requests through keep-alive pools, never following redirects. */
export function createHttpSender(options: HttpSenderOptions): HttpSender {
  const agent = new Agent({
    connect: { timeout: options.connectTimeoutMs, lookup: guardedLookup(options.guard) },
    headersTimeout: options.requestTimeoutMs,
    bodyTimeout: options.requestTimeoutMs,
    keepAliveTimeout: 30_000,
  });

  const preflight = (url: URL): AttemptResult | null => {
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && options.allowPlainHttp)) {
      return { kind: 'error', code: 'INSECURE_URL', message: `${url.protocol} URLs are not allowed; use https`, retryable: false };
    }
    // Literal IPs never reach the lookup hook, so they are checked here.
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (isIP(host) !== 0) {
      const refusal = options.guard.refusal(host);
      if (refusal) return { kind: 'error', code: SSRF_CODE, message: refusal, retryable: false };
    }
    return null;
  };

  /**
   * The parsed URL and its preflight verdict, by URL string. Both depend only
   * on the string and on fixed options (the guard's lists do not change), so
   * an endpoint's every request after the first skips parsing and the checks.
   * Host names are still resolved and checked on every connection.
   */
  const checked = new Map<string, { url: URL; refused: AttemptResult | null } | null>();
  const check = (target: string): { url: URL; refused: AttemptResult | null } | null => {
    let entry = checked.get(target);
    if (entry === undefined) {
      let url: URL | null = null;
      try {
        url = new URL(target);
      } catch {
        // Remembered as not a URL.
      }
      entry = url ? { url, refused: preflight(url) } : null;
      if (checked.size >= CHECKED_URLS_LIMIT) checked.clear();
      checked.set(target, entry);
    }
    return entry;
  };

  return {
    post(target, headers, body, postOptions) {
      const started = performance.now();
      const entry = check(target);
      if (!entry) return Promise.resolve({ result: { kind: 'error', code: 'INVALID_URL', message: `not a URL: ${target}`, retryable: false }, responseExcerpt: '', durationMs: 0 });
      if (entry.refused) return Promise.resolve({ result: entry.refused, responseExcerpt: '', durationMs: 0 });
      const { origin, pathname, search } = entry.url;
      return new Promise<SendResult>((resolve) => {
        // A throw inside dispatch reaches the handler's onError: every path resolves.
        agent.dispatch({ origin, path: pathname + search, method: 'POST', headers, body }, new AttemptHandler(started, options.maxResponseBytes, options.requestTimeoutMs, resolve, postOptions?.onSlow, options.slowAfterMs ?? 0));
      });
    },
    close: () => agent.close(),
  };
}
