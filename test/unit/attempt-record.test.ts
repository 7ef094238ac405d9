import { describe, expect, it } from 'vitest';
import { createAttemptLog, CUT_MARK, packAttempts } from '../../connector/delivery/attempt-log.js';
import { MAX_SEND_BYTES } from '../../connector/kafka/by-size.js';
import { attemptRecord, attemptRowsOf } from '../../connector/delivery/attempt-record.js';
import { buildBody } from '../../connector/delivery/envelope.js';
import { buildWebhookRequest, longestOpeningAtEnd, withoutSentSecrets } from '../../connector/delivery/request.js';
import type { DeliveryTask } from '../../connector/delivery/task.js';
import type { WebhookTarget } from '../../connector/subscriptions/webhook.js';
import type { Producer } from 'kafkajs';
import { createRootLogger } from '../../connector/observability/logger.js';

const task: DeliveryTask = {
  v: 1,
  taskId: 'msg_1',
  webhookId: '0b5e7c3e-61a4-4a4e-9d2e-6f1b1f7f2c11',
  organization: 'acme',
  attempt: 2,
  routedAt: 1_790_000_000_000,
  event: {
    eventId: 'evt-1', eventType: 'USER_CREATED', family: 'user', occurredAt: 1_789_999_999_000, organization: 'acme', actor: null, source: 'idp',
    payload: { username: 'zoë', note: 'quote " backslash \\ and \u2028 survive', n: 1.5e-7, big: 2 ** 64, nested: { list: [1, 'two', null] } },
  },
};
const target: WebhookTarget = {
  id: task.webhookId, organization: 'acme', name: 'hook', url: 'https://example.com/hook', bodyFormat: 'parallelworks', ordering: 'relaxed',
  signingSecrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'], apiKey: { header: 'X-Api-Key', value: 'secret-key' }, deliverable: true,
};

describe('attempt records', () => {
  it('carry the request body as a frame around the payload, and the sink rebuilds it byte for byte in every format', () => {
    for (const bodyFormat of ['parallelworks', 'cidaas', 'cloudevents'] as const) {
      const request = buildWebhookRequest(task, { ...target, bodyFormat }, 1_790_000_000, 'ua/1');
      expect(request.body).toBe(buildBody(bodyFormat, task.event, target, task.taskId));
      const record = attemptRecord({
        task, outcome: 'delivered', result: { kind: 'response', status: 204 }, requestHeaders: request.loggableHeaders, requestBodyFrame: request.frame,
        responseBody: '', durationMs: 12.4, now: 1_790_000_000_500,
      });
      const json = JSON.stringify(record);
      expect(json.split('"username":"zoë"')).toHaveLength(2); // the payload once, in the event
      const [row] = attemptRowsOf(json);
      expect(row).toMatchObject({ requestBody: request.body, eventId: 'evt-1', eventType: 'USER_CREATED', status: 204, durationMs: 12, attemptedAt: '2026-09-21T14:13:20.500Z' });
      expect(row).not.toHaveProperty('requestBodyFrame');
      expect(row).not.toHaveProperty('v');
    }
  });

  it('log the headers without the signature and the API key', () => {
    const request = buildWebhookRequest(task, target, 1_790_000_000, 'ua/1');
    expect(request.headers).toHaveProperty('webhook-signature');
    expect(request.headers['x-api-key']).toBe('secret-key');
    expect(request.loggableHeaders).toEqual({ 'content-type': 'application/json', 'user-agent': 'ua/1', 'webhook-id': 'msg_1', 'webhook-timestamp': '1790000000' });
    // An API key under a standard header's name is a credential too.
    const shadowing = buildWebhookRequest(task, { ...target, apiKey: { header: 'User-Agent', value: 'k' } }, 1, 'ua/1');
    expect(shadowing.headers['user-agent']).toBe('k');
    expect(shadowing.loggableHeaders).not.toHaveProperty('user-agent');
  });

  it('log an answer that echoes the request with the API key and every signature blanked out', () => {
    const previous = 'whsec_dGVzdC1wcmV2aW91cy1zZWNyZXQtMDEyMzQ1Njc=';
    const request = buildWebhookRequest(task, { ...target, signingSecrets: [target.signingSecrets[0]!, previous] }, 1_790_000_000, 'ua/1');
    const [first, second] = request.headers['webhook-signature']!.split(' ').map((s) => s.slice(3));
    const echo = `you sent x-api-key: secret-key, secret-key again; webhook-signature: ${request.headers['webhook-signature']}; second alone: ${second}; id ${task.taskId}`;
    expect(withoutSentSecrets(echo, request)).toBe(`you sent x-api-key: [redacted], [redacted] again; webhook-signature: v1,[redacted] v1,[redacted]; second alone: [redacted]; id msg_1`);
    expect(first).not.toBe(second);
    // What the log may keep stays, and an answer without secrets is left as it is.
    expect(withoutSentSecrets('ok', request)).toBe('ok');
    expect(withoutSentSecrets('', request)).toBe('');
    // A key under a standard header's name is blanked too; the header's usual value is no secret.
    const shadowing = buildWebhookRequest(task, { ...target, apiKey: { header: 'User-Agent', value: 'key-in-ua' } }, 1, 'ua/1');
    expect(withoutSentSecrets('ua=key-in-ua id=msg_1 type=application/json', shadowing)).toBe('ua=[redacted] id=msg_1 type=application/json');
    // A key with an auth scheme, quoted without it; a signature as a slash-escaping JSON encoder writes it.
    const bearer = buildWebhookRequest(task, { ...target, apiKey: { header: 'Authorization', value: 'Bearer tok-12345' } }, 1, 'ua/1');
    expect(withoutSentSecrets('{"error":"token tok-12345 expired","got":"Bearer tok-12345"}', bearer)).toBe('{"error":"token [redacted] expired","got":"[redacted]"}');
    let slashed = buildWebhookRequest(task, target, 1_790_000_000, 'ua/1');
    for (let now = 1_790_000_001; !slashed.headers['webhook-signature']!.includes('/'); now += 1) slashed = buildWebhookRequest(task, target, now, 'ua/1');
    const signature = slashed.headers['webhook-signature']!.slice(3);
    expect(withoutSentSecrets(`{"sig":"${signature.replaceAll('/', '\\/')}"}`, slashed)).toBe('{"sig":"[redacted]"}');
  });

  it('log an answer that echoes the API key escaped, percent-encoded or without its surrounding spaces with it blanked out', () => {
    const echoing = (value: string) => buildWebhookRequest(task, { ...target, apiKey: { header: 'X-Api-Key', value } }, 1, 'ua/1');
    const quoted = echoing('tok"en<&>\\1');
    // As JSON writes it, as Go's HTML-safe JSON writes it, and in a URL or form.
    expect(withoutSentSecrets(String.raw`{"got":"tok\"en<&>\\1"}`, quoted)).toBe('{"got":"[redacted]"}');
    expect(withoutSentSecrets(String.raw`{"got":"tok\"en\u003c\u0026\u003e\\1"}`, quoted)).toBe('{"got":"[redacted]"}');
    expect(withoutSentSecrets('/echo?key=tok%22en%3C%26%3E%5C1', quoted)).toBe('/echo?key=[redacted]');
    const spaced = echoing('  two words  ');
    expect(withoutSentSecrets('key=two words; form=two+words; url=two%20words', spaced)).toBe('key=[redacted]; form=[redacted]; url=[redacted]');
    // A framework's debug page (HTML), a form encoder that encodes more than a URL's does, hex in small letters.
    const marked = echoing(`k!'(1)~"<2>&`);
    expect(withoutSentSecrets('<td>k!&#39;(1)~&quot;&lt;2&gt;&amp;</td>', marked)).toBe('<td>[redacted]</td>');
    expect(withoutSentSecrets('<td>k!&#x27;(1)~&quot;&lt;2&gt;&amp;</td>', marked)).toBe('<td>[redacted]</td>');
    expect(withoutSentSecrets(`body: key=${new URLSearchParams([['', `k!'(1)~"<2>&`]]).toString().slice(1)}`, marked)).toBe('body: key=[redacted]');
    expect(withoutSentSecrets('?key=k!\'(1)~%22%3c2%3e%26', marked)).toBe('?key=[redacted]');
  });

  it('find the longest opening of a secret an excerpt ends with, as checking every length would', () => {
    const naive = (text: string, secret: string): number => {
      for (let length = Math.min(secret.length - 1, text.length); length > 0; length -= 1) if (text.endsWith(secret.slice(0, length))) return length;
      return 0;
    };
    let seed = 7;
    const next = () => (seed = (seed * 48271) % 2147483647);
    const word = (length: number) => Array.from({ length }, () => 'ab'[next() % 2]).join('');
    for (let round = 0; round < 2000; round += 1) {
      const text = word(next() % 12);
      const secret = word(next() % 10);
      expect(longestOpeningAtEnd(text, secret), `${text} / ${secret}`).toBe(naive(text, secret));
    }
    // Linear: a 12 KB escaped key against a 64 KB excerpt ending in most of it.
    const long = '%22'.repeat(4096);
    expect(longestOpeningAtEnd('x'.repeat(60_000) + long.slice(0, -1), long)).toBe(long.length - 1);
  });

  it('log an answer cut inside an echoed secret with the secret\'s opening blanked out at the cut, and only where it was cut', () => {
    const request = buildWebhookRequest(task, target, 1_790_000_000, 'ua/1');
    const signature = request.headers['webhook-signature']!.slice(3);
    // Cut after the key's first 7 characters, or the signature's first 10.
    expect(withoutSentSecrets('{"key":"secret-', request, true)).toBe('{"key":"[redacted]');
    expect(withoutSentSecrets(`{"sig":"${signature.slice(0, 10)}`, request, true)).toBe('{"sig":"[redacted]');
    // Not cut: the text ends where the answer did, and is no opening of anything.
    expect(withoutSentSecrets('{"key":"secret-', request)).toBe('{"key":"secret-');
    // Three characters tell next to nothing, and would blank ordinary words ending an excerpt.
    expect(withoutSentSecrets('the sec', request, true)).toBe('the sec');
    // A whole secret before the cut is blanked as ever.
    expect(withoutSentSecrets('secret-key and secret-k', request, true)).toBe('[redacted] and [redacted]');
  });

  it('are signed with the previous secret too until its overlap ends, however long ago the target was loaded', () => {
    const previous = 'whsec_dGVzdC1wcmV2aW91cy1zZWNyZXQtMDEyMzQ1Njc=';
    const rotating: WebhookTarget = { ...target, signingSecrets: [target.signingSecrets[0]!, previous], previousSecretUntil: 1_790_000_000_000 };
    expect(buildWebhookRequest(task, rotating, 1_789_999_999, 'ua/1').headers['webhook-signature']!.split(' ')).toHaveLength(2);
    const after = buildWebhookRequest(task, rotating, 1_790_000_000, 'ua/1').headers['webhook-signature']!;
    expect(after.split(' ')).toHaveLength(1);
    expect(after).toBe(buildWebhookRequest(task, target, 1_790_000_000, 'ua/1').headers['webhook-signature']);
  });

  it('of skipped attempts have no request body', () => {
    const [row] = attemptRowsOf(JSON.stringify(attemptRecord({ task, outcome: 'skipped', reason: 'gone', now: 0 })));
    expect(row).toMatchObject({ requestBody: null, errorMessage: 'gone', requestHeaders: {} });
  });

  it('of the earlier shape (one object per message, whole request body) are read as they are', () => {
    const earlier = { attemptId: 'a1', taskId: 'msg_1', eventId: 'evt-1', requestBody: '{"x":1}', event: task.event };
    expect(attemptRowsOf(JSON.stringify(earlier))).toEqual([earlier]);
  });

  it('that are not JSON objects are refused', () => {
    expect(() => attemptRowsOf('[1]')).toThrow();
    expect(() => attemptRowsOf('null')).toThrow();
    expect(() => attemptRowsOf('{')).toThrow();
  });
});

describe('packAttempts', () => {
  const parsed = (packs: Buffer[]) => packs.flatMap((p) => JSON.parse(p.toString()) as unknown[]);

  it('packs consecutive records as JSON arrays within the byte bound, a larger record alone', () => {
    const records = [{ a: 1 }, { b: 2 }, { c: 3 }, { big: 'x'.repeat(40) }, { d: 'é' }];
    const packs = packAttempts(records, 24);
    expect(parsed(packs)).toEqual(records);
    expect(packs.map(String)).toContain(`[${JSON.stringify(records[3])}]`);
    for (const pack of packs) if ((JSON.parse(pack.toString()) as unknown[]).length > 1) expect(pack.length).toBeLessThanOrEqual(24);
    expect(packAttempts([], 24)).toEqual([]);
  });

  it('keeps every pack within the bound however the records vary in size and in multi-byte characters', () => {
    // Sizes that grow and shrink, so the guess from the records before is often wrong in both directions.
    const records = Array.from({ length: 400 }, (_, i) => ({ i, name: 'zoë ✓ 😀'.repeat((i * 7) % 13), pad: 'x'.repeat((i % 50) * (i % 3)) }));
    for (const maxBytes of [40, 100, 1000, 10_000]) {
      const packs = packAttempts(records, maxBytes);
      expect(parsed(packs)).toEqual(records);
      for (const pack of packs) {
        // Only a record larger than the bound by itself travels in a pack past it.
        if ((JSON.parse(pack.toString()) as unknown[]).length > 1) expect(pack.length).toBeLessThanOrEqual(maxBytes);
      }
    }
  });

  it('fills packs well: records of one size need few more packs than their bytes divided by the bound', () => {
    const records = Array.from({ length: 1000 }, (_, i) => ({ i: 1000 + i, note: 'n'.repeat(80) }));
    const total = Buffer.byteLength(JSON.stringify(records));
    const packs = packAttempts(records, 10_000);
    expect(parsed(packs)).toEqual(records);
    expect(packs.length).toBeLessThanOrEqual(Math.ceil(total / (10_000 * 0.8)));
    for (const pack of packs) expect(pack.length).toBeLessThanOrEqual(10_000);
  });
});

describe('createAttemptLog', () => {
  const quiet = createRootLogger({ level: 'silent' });
  const record = (n: number) => attemptRecord({ task: { ...task, attempt: n }, outcome: 'skipped', now: 0 });
  /** A producer that refuses sends while `failing` is set, as a broker that is down does. */
  const flakyProducer = () => {
    const state = { failing: false, tries: 0, sent: [] as Array<{ topic: string; messages: Array<{ key: unknown; value: unknown }> }> };
    const producer = { send: async (request: (typeof state.sent)[number]) => {
      state.tries += 1;
      if (state.failing) throw new Error('broker down');
      state.sent.push(request);
      return [];
    } } as unknown as Producer;
    return { state, producer };
  };
  const attemptsIn = (sent: ReturnType<typeof flakyProducer>['state']['sent']) => sent.flatMap((r) => r.messages.flatMap((m) => attemptRowsOf(String(m.value)).map((row) => row['attempt'])));

  it('sends a batch as packs and settles every record of it with the send', async () => {
    const { state, producer } = flakyProducer();
    const log = createAttemptLog(producer, 'attempts', { lingerMs: 60_000, maxBatch: 3, log: quiet });
    const written = [log.record(record(1)), log.record(record(2)), log.record(record(3))]; // the third fills the batch
    await Promise.all(written);
    expect(state.sent).toHaveLength(1);
    expect(attemptsIn(state.sent)).toEqual([1, 2, 3]);
  });

  it('cuts the response excerpt of a record alone past what the topic takes, and only then', () => {
    const answer = 'r'.repeat(20_000);
    const withAnswer = attemptRecord({ task, outcome: 'delivered', result: { kind: 'response', status: 200 }, responseBody: answer, now: 0 });
    // Past the pack bound but within the topic: kept whole, alone.
    const [whole] = packAttempts([withAnswer], 1000, 40_000);
    expect(attemptRowsOf(whole!.toString())[0]!['responseBody']).toBe(answer);
    // Past the topic's limit: the excerpt is cut to fit, saying so.
    const [cut] = packAttempts([withAnswer], 1000, 8000);
    expect(cut!.length).toBeLessThanOrEqual(8000);
    const body = String(attemptRowsOf(cut!.toString())[0]!['responseBody']);
    expect(body.endsWith(CUT_MARK)).toBe(true);
    expect(answer.startsWith(body.slice(0, -CUT_MARK.length))).toBe(true);
    expect(body.length).toBeGreaterThan(5000);
    // Cut between characters, never inside a surrogate pair (Postgres refuses half of one).
    const emoji = attemptRecord({ task, outcome: 'delivered', result: { kind: 'response', status: 200 }, responseBody: '😀'.repeat(5000), now: 0 });
    for (const hard of [8000, 8001, 8002, 8003]) {
      const [pack] = packAttempts([emoji], 1000, hard);
      const kept = String(attemptRowsOf(pack!.toString())[0]!['responseBody']).slice(0, -CUT_MARK.length);
      expect(pack!.length).toBeLessThanOrEqual(hard);
      expect(kept).toMatch(/^(😀)+$/u);
    }
    // Only a record alone is cut: records are never dropped, whatever the bounds.
    const three = packAttempts([withAnswer, withAnswer, withAnswer], 100_000, 8000);
    expect(three.flatMap((pack) => attemptRowsOf(pack.toString()))).toHaveLength(3);
  });

  it('keeps packs and requests within a topic made with a small limit', async () => {
    const { state, producer } = flakyProducer();
    const limit = 8 * 1024;
    const log = createAttemptLog(producer, 'attempts', { lingerMs: 60_000, maxBatch: 100, topicLimitBytes: limit, log: quiet });
    await Promise.all(Array.from({ length: 100 }, (_, i) => log.record(record(i))));
    expect(attemptsIn(state.sent)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(state.sent.length).toBeGreaterThan(1);
    for (const request of state.sent) {
      const bytes = request.messages.reduce((sum, m) => sum + Buffer.byteLength(m.value as Buffer) + 64, 0);
      expect(bytes).toBeLessThanOrEqual(limit);
    }
  });

  it('sends a batch in requests the broker takes whole: a large record never shares one with packs past the send bound', async () => {
    const { state, producer } = flakyProducer();
    const log = createAttemptLog(producer, 'attempts', { lingerMs: 60_000, maxBatch: 200, log: quiet });
    const large = (n: number) => attemptRecord({ task: { ...task, attempt: n, event: { ...task.event, payload: { note: 'x'.repeat(600_000) } } }, outcome: 'skipped', now: 0 });
    const written = Array.from({ length: 199 }, (_, i) => log.record(i === 100 ? large(i) : record(i)));
    written.push(log.record(large(199)));
    await Promise.all(written);
    expect(attemptsIn(state.sent)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    for (const request of state.sent) {
      const bytes = request.messages.reduce((sum, m) => sum + (m.value as Buffer).length, 0);
      if (request.messages.length > 1) expect(bytes).toBeLessThanOrEqual(MAX_SEND_BYTES);
    }
    expect(state.sent.length).toBeGreaterThanOrEqual(3);
  });

  it('sends a refused batch again until Kafka takes it; its records settle only then', async () => {
    const { state, producer } = flakyProducer();
    const log = createAttemptLog(producer, 'attempts', { lingerMs: 60_000, maxBatch: 100, retryDelayMs: 2, log: quiet });
    state.failing = true;
    let settled = false;
    const written = log.record(record(4)).then(() => (settled = true));
    await log.flush();
    await waitUntil(() => state.tries >= 3);
    expect(settled).toBe(false);
    state.failing = false;
    await written;
    expect(attemptsIn(state.sent)).toEqual([4]);
  });

  it('sends batches waiting out a long pause at once when Kafka takes a batch again', async () => {
    const { state, producer } = flakyProducer();
    // A pause far longer than the test: only the recovery can send the first batch again in time.
    const log = createAttemptLog(producer, 'attempts', { lingerMs: 60_000, maxBatch: 100, retryDelayMs: 60_000, log: quiet });
    state.failing = true;
    const first = log.record(record(6));
    await log.flush();
    expect(state.tries).toBe(1);
    state.failing = false;
    const second = log.record(record(7));
    await log.flush();
    await Promise.all([first, second]);
    expect(attemptsIn(state.sent)).toEqual([7, 6]);
    await log.close();
  });

  it('warns once when Kafka starts refusing, not per batch, and says when it takes records again', async () => {
    const { state, producer } = flakyProducer();
    const lines: Array<{ level: string; msg: string }> = [];
    const log = createRootLogger({ level: 'info', destination: { write: (line: string) => void lines.push(JSON.parse(line) as { level: string; msg: string }) } });
    const attempts = createAttemptLog(producer, 'attempts', { lingerMs: 60_000, maxBatch: 100, retryDelayMs: 60_000, log });
    state.failing = true;
    const refused = [attempts.record(record(8))];
    await attempts.flush();
    refused.push(attempts.record(record(9)));
    await attempts.flush();
    expect(state.tries).toBe(2);
    state.failing = false;
    const taken = attempts.record(record(10));
    await attempts.flush();
    await Promise.all([...refused, taken]);
    expect(lines.map((line) => [line.level, line.msg])).toEqual([
      ['warn', 'attempt records not written; sending them again until Kafka takes them'],
      ['info', 'attempt records written again'],
    ]);
    await attempts.close();
  });

  it('close gives up batches still being retried: they reject, so their tasks stay uncommitted', async () => {
    const { state, producer } = flakyProducer();
    const log = createAttemptLog(producer, 'attempts', { lingerMs: 60_000, maxBatch: 100, retryDelayMs: 60_000, log: quiet });
    state.failing = true;
    const written = log.record(record(5));
    await log.flush();
    await log.close();
    await expect(written).rejects.toThrow('broker down');
    expect(state.tries).toBe(1);
  });
});

async function waitUntil(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 1));
}
