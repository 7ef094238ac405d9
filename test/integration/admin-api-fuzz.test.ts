import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Verifier } from '../../admin-api/verification.js';
import { startReceiver, type Receiver } from '../../scripts/lib/receiver.js';
import { startAdminApi, type RunningAdminApi } from '../support/admin-api.js';
import { testConfig, uniqueName } from '../support/harness.js';
import { ensureSchemathesis, runSchemathesis, SCHEMATHESIS_VERSION, toStderr } from '../support/schemathesis.js';
import { waitFor } from '../support/wait.js';

/**
 * Property-based fuzz of the admin API from its own OpenAPI document:
 * schemathesis generates valid and invalid requests for every operation
 * (coverage, fuzzing and stateful phases: create a webhook, then act on it)
 * against the real app on real Postgres and Kafka, and checks every answer:
 * no 5xx, status codes, content types, headers and bodies as documented,
 * invalid data refused, 405 with Allow for undocumented methods, auth
 * enforced, deleted resources gone.
 *
 * Not checked: positive_data_acceptance (that every schema-valid request is
 * accepted). The API refuses on purpose what JSON Schema cannot say: event
 * types outside the catalog, URLs that are not http(s) or point at
 * refused addresses.
 *
 * Short by default (FUZZ_MAX_EXAMPLES examples per operation, 15); the long
 * run is `npm run fuzz:admin-api` (more examples, optionally FUZZ_MAX_TIME
 * seconds of fuzzing, FUZZ_SEED to replay a run).
 */
const MAX_EXAMPLES = Number(process.env['FUZZ_MAX_EXAMPLES'] || 15);
const MAX_TIME_S = process.env['FUZZ_MAX_TIME'] ? Number(process.env['FUZZ_MAX_TIME']) : undefined;
const SEED = process.env['FUZZ_SEED'];
// The short run takes about 20 s on 2 cores; the bound is for a hung run, generous for long ones.
const RUN_TIMEOUT_MS = MAX_TIME_S !== undefined ? (MAX_TIME_S + 120) * 1000 : Math.max(120_000, MAX_EXAMPLES * 2_000);

describe(`admin API fuzz (schemathesis ${SCHEMATHESIS_VERSION})`, () => {
  const config = testConfig(inject('services'), { ADMIN_RATE_LIMIT_PER_MINUTE: '10000000', ADMIN_AUTH_FAILURES_PER_MINUTE: '0' });
  const organization = uniqueName('org');
  let receiver: Receiver;
  let api: RunningAdminApi;
  const seeded: string[] = [];

  beforeAll(async () => {
    await ensureSchemathesis(toStderr);
    receiver = await startReceiver();
    const receiverOrigin = new URL(receiver.url).origin;
    // Generated webhooks have generated URLs: their challenges must never leave this machine, so only the receiver's are sent.
    const loopbackOnly = (real: Verifier): Verifier => ({
      challenge: (row) => {
        let origin: string | undefined;
        try {
          origin = new URL(row.url).origin;
        } catch {
          origin = undefined;
        }
        return origin === receiverOrigin ? real.challenge(row) : Promise.resolve('the fuzz test sends challenges to its own receiver only');
      },
    });
    api = await startAdminApi(config, organization, { verifier: loopbackOnly });

    // Webhooks for ids to exist: one receiving events with an API key, one disabled with a reason.
    for (const body of [
      { name: 'fuzz receiving', url: receiver.url, eventTypes: ['USER_CREATED', 'group.*'], apiKey: { value: 'fuzz-key' } },
      { name: 'fuzz disabled', url: `${receiver.url}/other`, eventTypes: ['*'], bodyFormat: 'cloudevents', ordering: 'strict' },
    ]) {
      const created = await api.call('POST', '/v1/webhooks', { body });
      expect(created.status).toBe(201);
      seeded.push(created.body.webhook.id as string);
    }
    for (const id of seeded) {
      await waitFor(`seeded webhook ${id} verified`, async () => (await api.call('GET', `/v1/webhooks/${id}`)).body.verification.status === 'verified', 15_000);
    }
    expect((await api.call('POST', `/v1/webhooks/${seeded[1]}/disable`, { body: { reason: 'seeded disabled' } })).status).toBe(200);
  });

  afterAll(async () => {
    await api?.close();
    await receiver?.close();
  });

  // What earlier fuzz runs found, kept as plain checks: each was a 500, a non-problem answer or a silently coerced value.
  it('refuses what Postgres cannot take, coerced bodies, forged cursors, overlong paths and wrong methods as problems', async () => {
    const [id] = seeded;
    const forged = (s: string) => Buffer.from(JSON.stringify({ s, value: 'not a time', id: 'not a uuid' })).toString('base64url');
    const cases: Array<[string, string, unknown, number, string]> = [
      ['POST', `/v1/webhooks/${id}/disable`, { reason: 'a\u0000b' }, 400, 'reason'],
      ['PATCH', `/v1/webhooks/${id}`, { name: 'nul\u0000' }, 400, 'name'],
      ['GET', `/v1/webhooks?q=${encodeURIComponent('a\u0000')}`, undefined, 400, 'q'],
      ['POST', `/v1/webhooks/${id}/recover`, { since: '0000-01-01T00:00:00Z' }, 400, 'since'],
      // A leap second: Postgres reads the next minute, JavaScript nothing (a recover's until fell back to now, unbounded).
      ['POST', `/v1/webhooks/${id}/recover`, { since: '2016-12-31T00:00:00Z', until: '2016-12-31T23:59:60Z' }, 400, 'until'],
      ['GET', `/v1/webhooks/${id}/attempts?since=${encodeURIComponent('2016-12-31T23:59:60.5Z')}`, undefined, 400, 'since'],
      ['GET', `/v1/webhooks/${id}/attempts?until=${encodeURIComponent('2026-01-01T00:00:00+20:00')}`, undefined, 400, 'until'],
      // A space other than ASCII's between date and time: the format takes any (\\s), Postgres does not.
      ['GET', `/v1/webhooks/${id}/attempts?since=${encodeURIComponent('2024-01-01\u00a000:00:00Z')}`, undefined, 400, 'since'],
      ['POST', `/v1/webhooks/${id}/recover`, { since: '2024-01-01\u300000:00:00Z' }, 400, 'since'],
      ['GET', `/v1/webhooks?cursor=${forged('createdAt:desc')}`, undefined, 400, 'cursor'],
      ['GET', `/v1/webhooks/${id}/attempts?cursor=${forged('attemptedAt:desc')}`, undefined, 400, 'cursor'],
      ['POST', `/v1/webhooks/${id}/disable`, { reason: false }, 400, 'reason'],
      ['POST', `/v1/webhooks/${id}/test`, false, 400, '(body)'],
      ['PATCH', `/v1/webhooks/${id}`, { apiKey: { value: 'caf\u00e9' } }, 400, 'apiKey.value'],
      // HTTP drops the spaces around a header value: the receiver would get another key than the one given.
      ['PATCH', `/v1/webhooks/${id}`, { apiKey: { value: ' padded-key ' } }, 400, 'apiKey.value'],
      ['GET', `/v1/webhooks/${'a'.repeat(150)}`, undefined, 400, '(path)'],
      ['PATCH', '/v1/webhooks/bulk-delete', { ids: [id] }, 405, ''],
      ['PUT', '/healthz', undefined, 405, ''],
    ];
    for (const [method, path, body, status, field] of cases) {
      const answer = await api.call(method, path, { body });
      const what = `${method} ${path.slice(0, 80)} ${JSON.stringify(body) ?? ''}`;
      expect(answer.status, what).toBe(status);
      expect(answer.headers.get('content-type'), what).toMatch(/^application\/problem\+json/);
      if (field) expect(answer.body.errors.map((e: { field: string }) => e.field), what).toContain(field);
    }
    expect((await api.call('PATCH', '/v1/webhooks/bulk-delete', { body: {} })).headers.get('allow')).toBe('POST');
    // The refused status changes changed nothing.
    expect((await api.call('GET', `/v1/webhooks/${id}`)).body.status).toBe('active');
  });

  it('answers every generated request as its OpenAPI document says, and never with a server error', async () => {
    const args = [
      'run', `${api.url}/openapi.json`,
      '--header', `Authorization: Bearer ${api.token}`,
      '--checks', 'all',
      '--exclude-checks', 'positive_data_acceptance',
      '--max-examples', String(MAX_EXAMPLES),
      '--continue-on-failure',
      '--workers', '1',
      '--request-timeout', '30',
      '--generation-database', 'none',
      '--no-color',
    ];
    if (MAX_TIME_S !== undefined) args.push('--max-time', String(MAX_TIME_S));
    if (SEED) args.push('--seed', SEED);

    const result = await runSchemathesis(args, { timeoutMs: RUN_TIMEOUT_MS });
    const lines = result.output.trim().split('\n');
    const testCases = lines[lines.findIndex((line) => line.startsWith('Test cases:')) + 1]?.trim();
    const summary = [testCases, lines.find((line) => line.startsWith('Seed:')), lines.at(-1)?.replace(/=/g, '').trim()].filter(Boolean).join('; ');
    toStderr(`[schemathesis] ${MAX_EXAMPLES} examples per operation${MAX_TIME_S ? `, ${MAX_TIME_S} s` : ''}: exit ${result.exitCode} in ${(result.durationMs / 1000).toFixed(1)} s; ${summary}`);
    if (result.timedOut || result.exitCode !== 0) {
      expect.fail(`schemathesis ${result.timedOut ? `did not finish within ${RUN_TIMEOUT_MS / 1000} s` : `reported failures (exit ${result.exitCode})`}:\n\n${result.output}`);
    }
    // A run that tested nothing would pass too: it must have reached every operation of the document.
    const document = (await api.call('GET', '/openapi.json')).body as { paths: Record<string, Record<string, unknown>> };
    const operations = Object.values(document.paths).reduce((sum, path) => sum + Object.keys(path).length, 0);
    expect(result.output).toMatch(new RegExp(`Tested:\\s+${operations}\\b`));
  }, RUN_TIMEOUT_MS + 30_000);
});
