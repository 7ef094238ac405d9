import { afterEach, describe, expect, it } from 'vitest';
import { buildChallenge, challengeProblem } from '../../admin-api/verification.js';
import type { AttemptResult } from '../../connector/delivery/outcome.js';
import { startReceiver, type Receiver } from '../../scripts/lib/receiver.js';

/** Sends the admin API's verification challenge to the receiver and judges its answer as the API does. */
async function challenge(receiver: Receiver): Promise<string | null> {
  const request = buildChallenge({ id: 'hook-1', organization: 'acme', name: 'demo' }, ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'], null, 'test', Math.floor(Date.now() / 1000));
  const response = await fetch(receiver.url, { method: 'POST', headers: request.headers, body: request.body });
  const body = await response.text();
  const result: AttemptResult = { kind: 'response', status: response.status };
  return challengeProblem(result, body, request.challenge);
}

describe('the sample receiver', () => {
  let receiver: Receiver | undefined;
  afterEach(async () => receiver?.close());

  it('passes the verification challenge, keeping it apart from the deliveries it records', async () => {
    receiver = await startReceiver();
    receiver.respondWith(() => ({ status: 500 }));
    expect(await challenge(receiver)).toBeNull();
    expect(receiver.challenges).toHaveLength(1);
    expect(receiver.requests).toHaveLength(0);
  });

  it('answers every other request with the handler, as before', async () => {
    receiver = await startReceiver();
    receiver.respondWith((request) => ({ status: request.body.includes('fail') ? 503 : 202, body: 'ok' }));
    const post = (body: string) => fetch(receiver!.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect((await post('{"type":"USER_CREATED"}')).status).toBe(202);
    expect((await post('{"type":"USER_CREATED","note":"fail"}')).status).toBe(503);
    // Mentions the challenge type without being one: an ordinary request.
    expect((await post('{"type":"USER_MODIFIED","payload":{"comment":"webhook.verification"}}')).status).toBe(202);
    expect(receiver.requests.map((r) => r.body)).toHaveLength(3);
    expect(receiver.challenges).toHaveLength(0);
  });

  it('with answerChallenges: false hands the challenge to the handler, which can fail it', async () => {
    receiver = await startReceiver({ answerChallenges: false });
    receiver.respondWith(() => ({ status: 204 }));
    expect(await challenge(receiver)).toMatch(/did not echo the challenge/);
    expect(receiver.requests).toHaveLength(1);
  });
});
