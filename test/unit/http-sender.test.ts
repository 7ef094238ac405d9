import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpSender, type HttpSender } from '../../connector/delivery/http-sender.js';
import { createSsrfGuard } from '../../connector/delivery/ssrf-guard.js';
import { createLoadAwareSender, sendsInline } from '../../connector/delivery/load-aware-sender.js';
import { createThreadedHttpSender } from '../../connector/delivery/threaded-sender.js';
import { httpSends } from '../../connector/observability/metrics.js';

interface SenderSettings { allowPlainHttp: boolean; connectTimeoutMs: number; requestTimeoutMs: number; maxResponseBytes: number; ssrfAllowlist: string[]; slowAfterMs?: number }
/** Both ways a deliverer sends: from its main thread, and from sending threads (DELIVERER_HTTP_THREADS), which must behave alike. */
const SENDERS: Array<[string, (settings: SenderSettings) => HttpSender]> = [
  ['in the main thread', ({ ssrfAllowlist, ...settings }) => createHttpSender({ ...settings, guard: createSsrfGuard(ssrfAllowlist) })],
  ['on a sending thread', (settings) => createThreadedHttpSender(settings, { threads: 1, onFatal: (error) => { throw error; } })],
  ['from the main thread while load is light, else on a thread', (settings) => loadAware(settings, 1).sender],
];

/** What a deliverer with sending threads uses: both senders, each recording the URLs it was given. */
function loadAware({ ssrfAllowlist, ...settings }: SenderSettings, inlineBelow: number, waitingAside?: () => number): { sender: HttpSender; inlineUrls: string[]; threadedUrls: string[] } {
  const recording = (sender: HttpSender, urls: string[]): HttpSender => ({
    post: (url, headers, body, onSlow) => (urls.push(url), sender.post(url, headers, body, onSlow)),
    close: () => sender.close(),
  });
  const inlineUrls: string[] = [];
  const threadedUrls: string[] = [];
  const sender = createLoadAwareSender({
    inline: recording(createHttpSender({ ...settings, guard: createSsrfGuard(ssrfAllowlist) }), inlineUrls),
    threaded: recording(createThreadedHttpSender({ ...settings, ssrfAllowlist }, { threads: 1, onFatal: (error) => { throw error; } }), threadedUrls),
    inlineBelow,
    waitingAside,
  });
  return { sender, inlineUrls, threadedUrls };
}

/** A real HTTP server on 127.0.0.1 whose answer each test chooses by path. */
function startServer(): Promise<{
  server: Server; url: string; sockets: Set<unknown>; seen: Array<{ path: string; headers: IncomingMessage['headers']; body: string }>; releaseHeld: () => void;
}> {
  const seen: Array<{ path: string; headers: IncomingMessage['headers']; body: string }> = [];
  /** Answers of '/held', sent when a test says so: a request out for as long as the test needs, whatever the load. */
  const held: ServerResponse[] = [];
  const releaseHeld = (): void => held.splice(0).forEach((res) => res.end('released'));
  const sockets = new Set<unknown>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ path: req.url ?? '', headers: req.headers, body });
      const path = (req.url ?? '').split('?')[0];
      if (path === '/ok') return res.end('thanks');
      if (path === '/slow') return void setTimeout(() => res.end('slowly'), 50);
      if (path === '/held') return void held.push(res);
      if (path === '/big') return res.end('x'.repeat(200_000));
      if (path === '/busy') return res.writeHead(429, { 'Retry-After': '7' }).end();
      if (path === '/moved') return res.writeHead(302, { location: '/ok' }).end();
      if (path === '/early-hints') {
        res.writeEarlyHints({ link: '</style.css>; rel=preload' });
        return res.end('after hints');
      }
      if (path === '/trickle') {
        // The status and the start of the body, then nothing more until the connection is closed.
        res.writeHead(200);
        return void res.write('accepted, more to come');
      }
      if (path === '/cut') {
        res.writeHead(200, { 'content-length': '1000' });
        res.write('only part');
        return void setTimeout(() => req.socket.destroy(), 20);
      }
      // '/hang': never answers.
    });
  });
  server.on('connection', (socket) => sockets.add(socket));
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, sockets, seen, releaseHeld, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })));
}

/** startServer for the enclosing describe: filled in before its tests, closed after them (after hooks registered later). */
function serverForSuite(): Awaited<ReturnType<typeof startServer>> {
  const target = {} as Awaited<ReturnType<typeof startServer>>;
  beforeAll(async () => void Object.assign(target, await startServer()));
  afterAll(async () => {
    target.server.closeAllConnections();
    await new Promise((resolve) => target.server.close(resolve));
  });
  return target;
}

/** Settings of the tests that make their own senders. */
const SETTINGS = { allowPlainHttp: true, connectTimeoutMs: 1000, requestTimeoutMs: 2000, maxResponseBytes: 64, ssrfAllowlist: ['127.0.0.1'] };

describe.each(SENDERS)('the HTTP sender %s (real server on 127.0.0.1)', (_name, createSender) => {
  const target = serverForSuite();
  let sender: HttpSender;
  beforeAll(() => {
    sender = createSender({ allowPlainHttp: true, connectTimeoutMs: 1000, requestTimeoutMs: 400, maxResponseBytes: 1024, ssrfAllowlist: ['127.0.0.1'], slowAfterMs: 150 });
  });
  afterAll(() => sender.close());

  it('posts the body with the given headers and returns status and body', async () => {
    const sent = await sender.post(`${target.url}/ok?x=1`, { 'content-type': 'application/json', 'webhook-id': 'msg_1' }, '{"a":1}');
    expect(sent.result).toEqual({ kind: 'response', status: 200, retryAfter: undefined });
    expect(sent.responseExcerpt).toBe('thanks');
    expect(sent.durationMs).toBeGreaterThan(0);
    const last = target.seen.at(-1)!;
    expect(last).toMatchObject({ path: '/ok?x=1', body: '{"a":1}' });
    expect(last.headers['webhook-id']).toBe('msg_1');
  });

  it('keeps only the first maxResponseBytes of a large body, drains the rest and reuses the connection', async () => {
    const before = target.sockets.size;
    const big = await sender.post(`${target.url}/big`, {}, '');
    expect(big.responseExcerpt).toBe('x'.repeat(1024));
    expect(big.responseCut).toBe(true);
    const next = await sender.post(`${target.url}/ok`, {}, '');
    expect(next.result).toMatchObject({ status: 200 });
    expect(next.responseCut).toBeUndefined();
    expect(target.sockets.size - before).toBeLessThanOrEqual(1);
  });

  it('reports a request open past slowAfterMs as slow, once, and none answered sooner', async () => {
    const reports: string[] = [];
    const hung = sender.post(`${target.url}/hang`, {}, '', { onSlow: () => reports.push('hang') });
    const quick = await sender.post(`${target.url}/ok`, {}, '', { onSlow: () => reports.push('ok') });
    expect(quick.result).toMatchObject({ status: 200 });
    await expect.poll(() => reports).toEqual(['hang']);
    expect((await hung).result).toMatchObject({ kind: 'error', code: 'TIMEOUT' });
    expect(reports).toEqual(['hang']);
  });

  it('reports Retry-After and does not follow redirects', async () => {
    expect((await sender.post(`${target.url}/busy`, {}, '')).result).toEqual({ kind: 'response', status: 429, retryAfter: '7' });
    const moved = await sender.post(`${target.url}/moved`, {}, '');
    expect(moved.result).toMatchObject({ status: 302 });
    expect(target.seen.at(-1)!.path).toBe('/moved');
  });

  it('skips 1xx answers and reports the final one', async () => {
    const sent = await sender.post(`${target.url}/early-hints`, {}, '');
    expect(sent.result).toMatchObject({ status: 200 });
    expect(sent.responseExcerpt).toBe('after hints');
  });

  it('gives up at the request deadline with a retryable TIMEOUT', async () => {
    const sent = await sender.post(`${target.url}/hang`, {}, '');
    expect(sent.result).toMatchObject({ kind: 'error', code: 'TIMEOUT', retryable: true });
    expect(sent.durationMs).toBeGreaterThanOrEqual(390);
    expect(sent.durationMs).toBeLessThan(2000);
  });

  it('decides by the status once it is in: a 2xx whose body is still coming at the deadline, or is cut off, was answered', async () => {
    const trickled = await sender.post(`${target.url}/trickle`, {}, '');
    expect(trickled.result).toEqual({ kind: 'response', status: 200, retryAfter: undefined });
    expect(trickled.responseExcerpt).toBe('accepted, more to come');
    // Ended at the deadline: the excerpt may stop inside anything (a secret the redaction must then blank in part).
    expect(trickled.responseCut).toBe(true);
    expect(trickled.durationMs).toBeGreaterThanOrEqual(390);
    const cut = await sender.post(`${target.url}/cut`, {}, '');
    expect(cut.result).toMatchObject({ kind: 'response', status: 200 });
    expect(cut.responseExcerpt).toBe('only part');
    expect(cut.responseCut).toBe(true);
    // The connections those left behind are not reused for the next request.
    expect((await sender.post(`${target.url}/ok`, {}, '')).result).toMatchObject({ status: 200 });
  });

  it('reports a request the client will not send (an Expect or Upgrade header) as final, sending nothing', async () => {
    const count = target.seen.length;
    const refused: Array<Record<string, string>> = [{ expect: '100-continue' }, { upgrade: 'websocket' }, { 'keep-alive': 'timeout=5' }];
    for (const headers of refused) {
      const sent = await sender.post(`${target.url}/ok`, headers, '{}');
      expect(sent.result, JSON.stringify(headers)).toMatchObject({ kind: 'error', code: 'INVALID_REQUEST', retryable: false });
    }
    expect(target.seen.length).toBe(count);
  });

  it('reports a refused connection as retryable', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const sent = await sender.post(`http://127.0.0.1:${port}/`, {}, '');
    expect(sent.result).toMatchObject({ kind: 'error', code: 'ECONNREFUSED', retryable: true });
  });

  it('refuses plain HTTP unless allowed, forbidden addresses, and non-URLs, without sending', async () => {
    const strict = createSender({ allowPlainHttp: false, connectTimeoutMs: 1000, requestTimeoutMs: 400, maxResponseBytes: 1024, ssrfAllowlist: [] });
    const count = target.seen.length;
    expect((await strict.post(`${target.url}/ok`, {}, '')).result).toMatchObject({ code: 'INSECURE_URL', retryable: false });
    expect((await strict.post('https://127.0.0.1:1/ok', {}, '')).result).toMatchObject({ code: 'SSRF_BLOCKED', retryable: false });
    // A name is refused without saying what it resolves to: the message reaches admins, who need not map internal names.
    const named = (await strict.post('https://localhost:1/ok', {}, '')).result;
    expect(named).toMatchObject({ code: 'SSRF_BLOCKED', retryable: false, message: 'localhost: resolves only to addresses that are private, loopback, link-local or reserved' });
    expect((await strict.post('not a url', {}, '')).result).toMatchObject({ code: 'INVALID_URL', retryable: false });
    expect(target.seen.length).toBe(count);
    await strict.close();
  });
});

describe('the threaded HTTP sender', () => {
  const target = serverForSuite();

  it('answers each of many concurrent requests with its own result, across several threads', async () => {
    const sender = createThreadedHttpSender(SETTINGS, { threads: 3, onFatal: (error) => { throw error; } });
    const count = target.seen.length;
    // Alternating answers, so a result given to the wrong request would show.
    const paths = Array.from({ length: 300 }, (_, i) => (i % 3 === 0 ? `/busy?n=${i}` : `/ok?n=${i}`));
    const results = await Promise.all(paths.map((path, i) => sender.post(`${target.url}${path}`, { 'webhook-id': `msg_${i}` }, `{"n":${i}}`)));
    results.forEach((sent, i) => expect(sent.result).toMatchObject(i % 3 === 0 ? { status: 429, retryAfter: '7' } : { status: 200 }));
    expect(target.seen.length - count).toBe(300);
    const bodies = new Set(target.seen.slice(count).map((r) => r.body));
    expect(bodies.size).toBe(300);
    await sender.close();
  });

  it('sends a full batch of requests to its thread within the turn, and the rest once the turn is over', async () => {
    const sender = createThreadedHttpSender(SETTINGS, { threads: 1, flushEvery: 4, onFatal: (error) => { throw error; } });
    const worker = sender.threads[0]!;
    const batches: number[] = [];
    const postMessage = worker.postMessage.bind(worker);
    worker.postMessage = (message: unknown) => {
      if (Array.isArray(message)) batches.push(message.length);
      postMessage(message);
    };
    const answers = Array.from({ length: 10 }, (_, i) => sender.post(`${target.url}/ok`, {}, `batched ${i}`));
    // Still in the turn that posted them: two full batches are with the thread already.
    expect(batches).toEqual([4, 4]);
    (await Promise.all(answers)).forEach((sent) => expect(sent.result).toMatchObject({ status: 200 }));
    expect(batches).toEqual([4, 4, 2]);
    await sender.close();
  });

  it('answers a batch it cannot hand to its thread as failed, with every request waiting, and reports a fatal error', async () => {
    const fatal: Error[] = [];
    const sender = createThreadedHttpSender(SETTINGS, { threads: 1, flushEvery: 2, closeTimeoutMs: 200, onFatal: (error) => fatal.push(error) });
    const waiting = sender.post(`${target.url}/hang`, {}, 'waiting in the thread');
    await expect.poll(() => target.seen.some((r) => r.body === 'waiting in the thread')).toBe(true);
    // A header that cannot be copied to the thread: the batch it fills fails to go, within the turn.
    const uncopyable = { 'x-broken': (() => 'no') as unknown as string };
    const first = sender.post(`${target.url}/ok`, {}, 'in the failed batch');
    const second = sender.post(`${target.url}/ok`, uncopyable, 'fills the failed batch');
    for (const answer of [first, second, waiting]) expect((await answer).result).toMatchObject({ kind: 'error', code: 'SENDER_THREAD_FAILED', retryable: true });
    expect(fatal).toHaveLength(1);
    expect(fatal[0]!.message).toContain('could not be handed to the HTTP sending thread');
    await sender.close();
  });

  it('closes its threads, and answers later requests as failed rather than hanging', async () => {
    const fatal: Error[] = [];
    const sender = createThreadedHttpSender(SETTINGS, { threads: 2, onFatal: (error) => fatal.push(error) });
    expect((await sender.post(`${target.url}/ok`, {}, '')).result).toMatchObject({ status: 200 });
    await sender.close();
    expect(sender.threads.every((thread) => thread.threadId === -1)).toBe(true);
    expect((await sender.post(`${target.url}/ok`, {}, '')).result).toMatchObject({ kind: 'error', code: 'SENDER_THREAD_FAILED' });
    // An orderly close is not a failure.
    expect(fatal).toEqual([]);
  });

  it('keeps a lane\'s requests open at most its cap at once in the thread, and releases one open past slowAfterMs', async () => {
    const sender = createThreadedHttpSender({ ...SETTINGS, requestTimeoutMs: 10_000, slowAfterMs: 300, maxAside: 10 }, { threads: 1, closeTimeoutMs: 200, onFatal: (error) => { throw error; } });
    const lane = sender.lane(1);
    const started = performance.now();
    // '/hang' takes the lane's one slot; the next request of the lane waits in the thread until the hang counts as slow.
    void lane.post(`${target.url}/hang`, {}, 'holds the lane');
    const queued = lane.post(`${target.url}/ok`, {}, 'waits for the lane');
    // Another lane, and requests without one, are not held by it.
    expect((await sender.lane(1).post(`${target.url}/ok`, {}, 'other lane')).result).toMatchObject({ status: 200 });
    expect((await sender.post(`${target.url}/ok`, {}, 'no lane')).result).toMatchObject({ status: 200 });
    expect(target.seen.some((r) => r.body === 'waits for the lane')).toBe(false);
    expect((await queued).result).toMatchObject({ status: 200 });
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    await sender.close();
  });

  it('takes back a request still waiting in its lane when its withdrawOn signal aborts: answered withdrawn, never sent; one already out is answered as ever', async () => {
    const sender = createThreadedHttpSender({ ...SETTINGS, requestTimeoutMs: 10_000 }, { threads: 1, closeTimeoutMs: 200, onFatal: (error) => { throw error; } });
    const lane = sender.lane(1);
    const partition = new AbortController();
    // Held until answered below: out for as long as the abort takes to reach the thread, however loaded the machine.
    const out = lane.post(`${target.url}/held`, {}, 'out before the abort', { withdrawOn: partition.signal });
    const queued = lane.post(`${target.url}/ok`, {}, 'queued at the abort', { withdrawOn: partition.signal });
    await expect.poll(() => target.seen.some((r) => r.body === 'out before the abort')).toBe(true);
    partition.abort();
    expect(await queued).toMatchObject({ withdrawn: true, result: { kind: 'error', code: 'WITHDRAWN', retryable: true } });
    target.releaseHeld();
    expect((await out).result).toMatchObject({ status: 200 });
    // Aborted before it is posted: taken back at once.
    expect(await lane.post(`${target.url}/ok`, {}, 'posted after the abort', { withdrawOn: partition.signal })).toMatchObject({ withdrawn: true });
    // The lane goes on with requests of another signal.
    expect((await lane.post(`${target.url}/ok`, {}, 'another partition', { withdrawOn: new AbortController().signal })).result).toMatchObject({ status: 200 });
    expect(target.seen.some((r) => r.body === 'queued at the abort' || r.body === 'posted after the abort')).toBe(false);
    await sender.close();
  });

  it('closing, answers a request out as the endpoint does and takes back one still waiting in its lane, unsent', async () => {
    const sender = createThreadedHttpSender({ ...SETTINGS, requestTimeoutMs: 10_000 }, { threads: 1, closeTimeoutMs: 5000, onFatal: (error) => { throw error; } });
    const lane = sender.lane(1);
    // Held until the close has taken back the request waiting behind it, however loaded the machine.
    const out = lane.post(`${target.url}/held`, {}, 'out at the close');
    const queued = lane.post(`${target.url}/ok`, {}, 'waiting at the close');
    await expect.poll(() => target.seen.some((r) => r.body === 'out at the close')).toBe(true);
    const closing = sender.close();
    // Taken back, its task uncommitted for whoever sends it next; not sent to the closing pool and failed.
    expect(await queued).toMatchObject({ withdrawn: true });
    target.releaseHeld();
    await closing;
    // Its answer reached the main thread before the thread ended: not the sender's own "closed" failure.
    expect((await out).result).toMatchObject({ status: 200 });
    expect(target.seen.some((r) => r.body === 'waiting at the close')).toBe(false);
  });

  it('answers requests in flight as a retryable failure and reports a fatal error when a thread dies', async () => {
    const fatal: Error[] = [];
    const sender = createThreadedHttpSender(SETTINGS, { threads: 1, onFatal: (error) => fatal.push(error) });
    // '/hang' never answers: the request is in flight when the thread goes.
    const inFlight = sender.post(`${target.url}/hang`, {}, 'in flight at the crash');
    await expect.poll(() => target.seen.some((r) => r.body === 'in flight at the crash')).toBe(true);
    await sender.threads[0]!.terminate();
    expect((await inFlight).result).toMatchObject({ kind: 'error', code: 'SENDER_THREAD_FAILED', retryable: true });
    expect(fatal).toHaveLength(1);
    expect(fatal[0]!.message).toMatch(/sending thread/);
    expect((await sender.post(`${target.url}/ok`, {}, '')).result).toMatchObject({ code: 'SENDER_THREAD_FAILED' });
    await sender.close();
  });
});

describe('the load-aware sender (real server on 127.0.0.1)', () => {
  const target = serverForSuite();

  it('sends inline only below the bound', () => {
    expect(sendsInline(0, 4)).toBe(true);
    expect(sendsInline(3, 4)).toBe(true);
    expect(sendsInline(4, 4)).toBe(false);
    expect(sendsInline(0, 0)).toBe(false);
  });

  it('sends from the main thread while fewer than the bound are in flight, through the thread beyond it, and inline again once they are answered', async () => {
    const { sender, inlineUrls, threadedUrls } = loadAware(SETTINGS, 2);
    const sends = async (via: string): Promise<number> => (await httpSends.get()).values.find((v) => v.labels['via'] === via)?.value ?? 0;
    const [mainBefore, threadBefore] = [await sends('main_thread'), await sends('sending_thread')];
    const urls = Array.from({ length: 5 }, (_, i) => `${target.url}/slow?n=${i}`);
    const results = await Promise.all(urls.map((url) => sender.post(url, {}, '')));
    results.forEach((sent) => expect(sent.result).toMatchObject({ status: 200 }));
    expect(inlineUrls).toEqual(urls.slice(0, 2));
    expect(threadedUrls).toEqual(urls.slice(2));
    // All answered: the count is back to none, so the next goes inline.
    await sender.post(`${target.url}/ok?after`, {}, '');
    expect(inlineUrls.at(-1)).toBe(`${target.url}/ok?after`);
    expect(threadedUrls).toHaveLength(3);
    expect(await sends('main_thread') - mainBefore).toBe(3);
    expect(await sends('sending_thread') - threadBefore).toBe(3);
    await sender.close();
  });

  it('counts a request taken back unsent in a sending thread as no send', async () => {
    const sends = async (): Promise<number> => (await httpSends.get()).values.find((v) => v.labels['via'] === 'sending_thread')?.value ?? 0;
    const threaded = createThreadedHttpSender({ ...SETTINGS, requestTimeoutMs: 10_000 }, { threads: 1, closeTimeoutMs: 200, onFatal: (error) => { throw error; } });
    const sender = createLoadAwareSender({ inline: createHttpSender({ ...SETTINGS, guard: createSsrfGuard(SETTINGS.ssrfAllowlist) }), threaded, inlineBelow: 0 });
    const lane = sender.via(threaded.lane(1));
    const before = await sends();
    const partition = new AbortController();
    const out = lane.post(`${target.url}/held`, {}, 'counted: out before the abort', { withdrawOn: partition.signal });
    const queued = lane.post(`${target.url}/ok`, {}, 'not counted: waits in the lane', { withdrawOn: partition.signal });
    await expect.poll(() => target.seen.some((r) => r.body === 'counted: out before the abort')).toBe(true);
    partition.abort();
    expect(await queued).toMatchObject({ withdrawn: true });
    target.releaseHeld();
    expect((await out).result).toMatchObject({ status: 200 });
    expect(await sends() - before).toBe(1);
    await sender.close();
  });

  it('does not count requests waiting aside on slow endpoints: with two of them, a bound of 2 sends four at once inline', async () => {
    const { sender, inlineUrls, threadedUrls } = loadAware(SETTINGS, 2, () => 2);
    const urls = Array.from({ length: 5 }, (_, i) => `${target.url}/slow?aside=${i}`);
    const results = await Promise.all(urls.map((url) => sender.post(url, {}, '')));
    results.forEach((sent) => expect(sent.result).toMatchObject({ status: 200 }));
    expect(inlineUrls).toEqual(urls.slice(0, 4));
    expect(threadedUrls).toEqual(urls.slice(4));
    await sender.close();
  });

  it('counts a request as finished when its sender throws, and closes both senders', async () => {
    const closed: string[] = [];
    const failing: HttpSender = { post: () => Promise.reject(new Error('broken sender')), close: async () => void closed.push('inline') };
    const threaded = createThreadedHttpSender(SETTINGS, { threads: 1, onFatal: (error) => { throw error; } });
    const sender = createLoadAwareSender({ inline: failing, threaded: { post: threaded.post, close: async () => (closed.push('threaded'), threaded.close()) }, inlineBelow: 1 });
    await expect(sender.post(`${target.url}/ok`, {}, '')).rejects.toThrow('broken sender');
    // Had the failure kept its place in the count, this one would go to the thread.
    await expect(sender.post(`${target.url}/ok`, {}, '')).rejects.toThrow('broken sender');
    await sender.close();
    expect(closed.sort()).toEqual(['inline', 'threaded']);
    expect(threaded.threads.every((thread) => thread.threadId === -1)).toBe(true);
  });
});
