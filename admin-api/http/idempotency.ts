import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Pool } from '../../connector/db/pool.js';
import type { Logger } from '../../connector/observability/logger.js';
import { secretPlace, type SecretBox } from '../../connector/security/encryption.js';
import { ApiProblem } from '../problem.js';
import { problemResponses } from '../schemas.js';
import { claimIdempotencyKey, purgeIdempotencyKeys, recordIdempotentAnswer, releaseIdempotencyKey, type Fingerprint, type KeyOwner } from '../store/idempotency.js';

export const IDEMPOTENCY_HEADER = 'idempotency-key';
/** Set on an answer given again for a key, as Svix and Stripe do. */
export const REPLAYED_HEADER = 'idempotent-replayed';
/** A first request unanswered for this long was abandoned (its process died): its key may be claimed afresh. */
const ABANDONED_AFTER_MS = 60_000;
const PURGE_INTERVAL_MS = 10 * 60_000;
/** The headers of an answer that are part of it, given again with it. */
const KEPT_HEADERS = ['content-type', 'etag', 'location'] as const;

declare module 'fastify' {
  interface FastifyRequest {
    /** The Idempotency-Key this request claimed, and its claim: its answer is kept, or (refused: 4xx) the key let go. */
    claimedIdempotencyKey?: { key: string; token: string };
  }
}

const headerSchema = {
  type: 'string',
  minLength: 1,
  maxLength: 255,
  pattern: '^[\\x21-\\x7e]+$',
  description: 'Any unique value (a UUID) of up to 255 printable ASCII characters. Sent again with the same request within 24 hours, '
    + 'it gets the first answer again (with Idempotent-Replayed: true) instead of doing the change twice: a webhook created, a secret rotated, '
    + 'events queued. Refusals (4xx) are not kept: such a request may be sent again with the same key. A 5xx is kept and answered again '
    + '(the change may have been made partway: read it back, and try again with a new key). The same key with another request (another '
    + 'path, or a body with other content: compared as parsed JSON, key order counting), or while the first is under way, is a 409.',
} as const;

/**
 * The headers kept with an answer, given again with it. Never Retry-After,
 * which only 503s and refusals carry: refusals are not kept, and a kept
 * 503's would tell a client that waited as told and sent the same key to
 * wait again, for as long as the key lives. Replayed without it, the
 * answer's own words (read the change back, then use a new key) stand.
 */
export function headersToKeep(header: (name: string) => unknown): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of KEPT_HEADERS) {
    const value = header(name);
    if (value !== undefined) headers[name] = String(value);
  }
  return headers;
}

/**
 * Idempotency keys for the admin API's POST routes (the ones that are not
 * idempotent by themselves): a client that did not get an answer (a timeout,
 * a 503 that says the change may have been made) sends the request again
 * with the same key and cannot make it twice. Keys belong to the token that
 * sent them (another client of the organization may pick the same key, and
 * must not get this one's answer); answers are stored encrypted, as they may
 * hold a secret shown only once. Installed on the /v1 scope, after
 * authentication.
 */
export function idempotencyKeys(deps: { pool: Pool; box: SecretBox; log: Logger }) {
  const { pool, box, log } = deps;
  /**
   * The request's hash, sealed like the answer: a body may hold an API key, which a plain hash in the table would
   * let anyone reading it test guesses against. Sealed with the secrets' key, it opens under a previous key during a
   * key rotation, and reencrypt-secrets carries it over to the new one.
   */
  const ownerOf = (request: FastifyRequest): KeyOwner => ({ organization: request.principal.organization, tokenId: request.principal.tokenId });
  const fingerprint = (request: FastifyRequest, key: string): Fingerprint => {
    const hash = createHash('sha256').update(`${request.method} ${request.url}\n${JSON.stringify(request.body ?? null)}`).digest('base64url');
    const place = secretPlace.idempotentRequest(ownerOf(request), key);
    return { sealed: box.encrypt(hash, place), matches: (stored) => box.decrypt(stored, place) === hash };
  };

  const replay = (reply: FastifyReply, status: number, headers: Record<string, string>, body: string): FastifyReply =>
    reply.code(status).headers({ ...headers, [REPLAYED_HEADER]: 'true' }).send(body);

  /** Adds the hooks to `app` itself (not a plugin of its own): they reach every route registered in it after this. */
  return function install(app: FastifyInstance): void {
    app.addHook('onRoute', (route) => {
      if ([route.method].flat().includes('POST')) {
        const schema = (route.schema ??= {}) as { headers?: { type: string; properties: Record<string, unknown> }; response?: Record<string, unknown> };
        schema.headers = { type: 'object', properties: { ...(schema.headers?.properties ?? {}), [IDEMPOTENCY_HEADER]: headerSchema } };
        schema.response = { ...problemResponses(409), ...(schema.response ?? {}) };
      }
    });

    app.addHook('preHandler', async (request, reply) => {
      const key = request.headers[IDEMPOTENCY_HEADER];
      if (request.method !== 'POST' || typeof key !== 'string') return;
      const claim = await claimIdempotencyKey(pool, ownerOf(request), key, fingerprint(request, key), ABANDONED_AFTER_MS);
      if (claim.kind === 'claimed') {
        request.claimedIdempotencyKey = { key, token: claim.token };
        return;
      }
      if (claim.kind === 'mismatch') throw new ApiProblem('conflict', 'this Idempotency-Key was sent with another request (another path or body); use a new key for a new request');
      if (claim.kind === 'in-flight') throw new ApiProblem('conflict', 'the first request with this Idempotency-Key is still under way; send it again shortly', undefined, { 'retry-after': '1' });
      const { answer } = claim;
      // Filtered again: answers kept before Retry-After was left out still hold it.
      return replay(reply, answer.status, headersToKeep((name) => answer.headers[name]), box.decrypt(answer.responseEnc, secretPlace.idempotentAnswer(ownerOf(request), key)));
    });

    app.addHook('onSend', async (request, reply, payload) => {
      const claimed = request.claimedIdempotencyKey;
      if (claimed === undefined) return payload;
      request.claimedIdempotencyKey = undefined;
      const owner = ownerOf(request);
      const { key, token } = claimed;
      try {
        // A refusal (404, 409, 412: decided before anything changed) frees the key. A 5xx is kept, as a success is: a
        // publish or a write may have been made partway, and running the request again could make it twice.
        if (reply.statusCode >= 400 && reply.statusCode < 500) await releaseIdempotencyKey(pool, owner, key, token);
        else {
          const headers = headersToKeep((name) => reply.getHeader(name));
          const body = typeof payload === 'string' ? payload : '';
          await recordIdempotentAnswer(pool, owner, key, token, { status: reply.statusCode, responseEnc: box.encrypt(body, secretPlace.idempotentAnswer(owner, key)), headers });
        }
      } catch (error) {
        // Answered all the same; the key stays claimed until abandoned (a minute), then runs afresh.
        log.warn({ err: error, organization: owner.organization }, 'could not keep the answer of an idempotent request');
      }
      return payload;
    });

    const purge = setInterval(() => {
      purgeIdempotencyKeys(pool).catch((error: unknown) => log.warn({ err: error }, 'could not drop expired idempotency keys'));
    }, PURGE_INTERVAL_MS);
    purge.unref();
    app.addHook('onClose', async () => clearInterval(purge));
  };
}
