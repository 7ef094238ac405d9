import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { EventEmitter } from 'node:events';
import { isIP, type LookupFunction } from 'node:net';
import type { Readable } from 'node:stream';
import { Agent, errors as undiciErrors, request } from 'undici';
import type { AttemptResult } from './outcome.js';
import type { SsrfGuard } from './ssrf-guard.js';

export interface SendResult {
  result: AttemptResult;
  /** Up to maxResponseBytes of the response body, for the delivery log. */
  responseExcerpt: string;
  durationMs: number;
}

export interface HttpSender {
  post(url: string, headers: Record<string, string>, body: string): Promise<SendResult>;
  close(): Promise<void>;
}

export interface HttpSenderOptions {
  allowPlainHttp: boolean;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  maxResponseBytes: number;
  guard: SsrfGuard;
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
        const refusal = guard.refusal(addresses[0]?.address ?? '') ?? 'no address';
        const blocked = Object.assign(new Error(`${hostname}: ${refusal}`), { code: SSRF_CODE });
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
  if (error instanceof undiciErrors.ConnectTimeoutError) return { kind: 'error', code: 'CONNECT_TIMEOUT', message, retryable: true };
  if (error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.BodyTimeoutError || code === 'ABORT_ERR' || (error as Error).name === 'TimeoutError') {
    return { kind: 'error', code: 'TIMEOUT', message, retryable: true };
  }
  return { kind: 'error', code, message, retryable: true };
}

/**
 * A request's deadline, as the EventEmitter that undici accepts for `signal`.
 * Per request it costs a tenth of an AbortController (whose EventTarget is
 * the single largest cost of a request after the HTTP work itself). undici
 * reads `reason` when 'abort' is emitted and fails the request with it.
 */
class Deadline extends EventEmitter {
  aborted = false;
  reason: unknown = undefined;

  expire(reason: unknown): void {
    this.aborted = true;
    this.reason = reason;
    this.emit('abort');
  }
}

/**
 * Reads the whole body (the connection is reused only once it is drained),
 * keeping its first `maxBytes` for the delivery log. Plain stream events:
 * an async iterator per response costs more than most responses' bodies.
 */
function readExcerpt(body: Readable, maxBytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let kept = 0;
    body.on('data', (chunk: Buffer) => {
      if (kept >= maxBytes) return;
      const part = chunk.length > maxBytes - kept ? chunk.subarray(0, maxBytes - kept) : chunk;
      parts.push(part);
      kept += part.length;
    });
    body.on('end', () => resolve(parts.length === 0 ? '' : parts.length === 1 ? parts[0]!.toString('utf8') : Buffer.concat(parts).toString('utf8')));
    body.on('error', reject);
  });
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
    async post(target, headers, body) {
      const started = performance.now();
      const entry = check(target);
      if (!entry) return { result: { kind: 'error', code: 'INVALID_URL', message: `not a URL: ${target}`, retryable: false }, responseExcerpt: '', durationMs: 0 };
      if (entry.refused) return { result: entry.refused, responseExcerpt: '', durationMs: 0 };
      // The whole attempt's deadline. A timer cleared when the attempt ends, rather than AbortSignal.timeout,
      // whose timer stays pending for the full timeout after every request.
      const deadline = new Deadline();
      const timer = setTimeout(() => deadline.expire(new DOMException('The operation was aborted due to timeout', 'TimeoutError')), options.requestTimeoutMs);
      try {
        const response = await request(entry.url, {
          method: 'POST',
          headers,
          body,
          dispatcher: agent,
          signal: deadline,
        });
        const excerpt = await readExcerpt(response.body, options.maxResponseBytes);
        const retryAfter = response.headers['retry-after'];
        return {
          result: { kind: 'response', status: response.statusCode, retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter },
          responseExcerpt: excerpt,
          durationMs: performance.now() - started,
        };
      } catch (error) {
        return { result: errorResult(error), responseExcerpt: '', durationMs: performance.now() - started };
      } finally {
        clearTimeout(timer);
      }
    },
    close: () => agent.close(),
  };
}
