import { randomBytes, randomUUID } from 'node:crypto';
import type { HttpSender } from '../connector/delivery/http-sender.js';
import type { AttemptResult } from '../connector/delivery/outcome.js';
import { signatureHeader } from '../connector/delivery/signature.js';
import { secretPlace, type SecretBox } from '../connector/security/encryption.js';
import { previousSecretSigns, type WebhookRow } from './store/webhooks.js';

/**
 * The verification challenge (seed 003: events are sent only to verified,
 * enabled webhooks). The connector POSTs a signed challenge to the URL; the
 * endpoint proves it is the intended receiver by answering 2xx with the
 * challenge echoed, either as `{"challenge": "<value>"}` or as the value in
 * plain text. This is a handshake, not an event delivery, so it goes out
 * directly (through the same SSRF guard and client as deliveries).
 */
export const CHALLENGE_EVENT_TYPE = 'webhook.verification';

export interface ChallengeRequest {
  challenge: string;
  headers: Record<string, string>;
  body: string;
}

/** `secrets`: the current signing secret, then the previous one while a rotation's overlap lasts (one signature each, as events). */
export function buildChallenge(row: Pick<WebhookRow, 'id' | 'organization' | 'name'>, secrets: readonly string[], apiKey: { header: string; value: string } | null, userAgent: string, nowSeconds: number): ChallengeRequest {
  const challenge = randomBytes(24).toString('base64url');
  const body = JSON.stringify({ type: CHALLENGE_EVENT_TYPE, challenge, webhook: { id: row.id, organization: row.organization, name: row.name } });
  const messageId = `verify_${randomUUID()}`;
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': userAgent,
    'webhook-id': messageId,
    'webhook-timestamp': String(nowSeconds),
    'webhook-signature': signatureHeader(secrets, messageId, nowSeconds, body),
  };
  if (apiKey) headers[apiKey.header.toLowerCase()] = apiKey.value;
  return { challenge, headers, body };
}

/** Why the endpoint's answer does not verify it, or null when it does. */
export function challengeProblem(result: AttemptResult, responseBody: string, challenge: string): string | null {
  if (result.kind === 'error') return `the request failed: ${result.code}: ${result.message}`;
  if (result.status < 200 || result.status > 299) return `the endpoint answered HTTP ${result.status}; it must answer 2xx with the challenge`;
  const text = responseBody.trim();
  if (text === challenge) return null;
  try {
    const parsed = JSON.parse(text) as { challenge?: unknown; type?: unknown };
    if (parsed && typeof parsed === 'object' && parsed.challenge === challenge) {
      // The challenge request itself sent back: any echo endpoint answers so, without its owner knowing of the webhook.
      if (parsed.type === CHALLENGE_EVENT_TYPE) return 'the endpoint sent the challenge request back whole; answer {"challenge": "<value>"} or the value as plain text';
      return null;
    }
  } catch {
    // Not JSON: only the plain-text echo above counts.
  }
  return 'the response did not echo the challenge; answer {"challenge": "<value>"} or the value as plain text';
}

export interface Verifier {
  /** Sends the challenge; resolves with why it failed, or null when the endpoint is verified. */
  challenge(row: WebhookRow): Promise<string | null>;
}

export function createVerifier(deps: { sender: HttpSender; box: SecretBox; userAgent: string; now?: () => number }): Verifier {
  const now = deps.now ?? Date.now;
  return {
    async challenge(row) {
      const apiKey = row.api_key_header && row.api_key_enc ? { header: row.api_key_header, value: deps.box.decrypt(row.api_key_enc, secretPlace.apiKey(row.id)) } : null;
      // Signed as events are: a receiver still on the previous secret during a rotation's overlap must verify it too.
      const secrets = [deps.box.decrypt(row.signing_secret_enc, secretPlace.signingSecret(row.id))];
      if (previousSecretSigns(row, now())) secrets.push(deps.box.decrypt(row.previous_signing_secret_enc!, secretPlace.signingSecret(row.id)));
      const request = buildChallenge(row, secrets, apiKey, deps.userAgent, Math.floor(now() / 1000));
      const sent = await deps.sender.post(row.url, request.headers, request.body);
      return challengeProblem(sent.result, sent.responseExcerpt, request.challenge);
    },
  };
}
