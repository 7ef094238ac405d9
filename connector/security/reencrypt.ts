import type { Pool } from '../db/pool.js';
import { fatal } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { secretPlace, type SecretBox, type SecretPlace } from './encryption.js';

/** Webhooks read and rewritten per round. */
const BATCH = 500;
/** Tries per webhook changed between its read and its write (an admin rotating its secret, say). */
const TRIES = 5;

interface StoredSecrets {
  id: string;
  signing_secret_enc: string;
  previous_signing_secret_enc: string | null;
  /** Whether the previous secret still signs; past its overlap it is dropped rather than encrypted again. */
  previous_valid: boolean;
  api_key_enc: string | null;
}

const COLUMNS = `id::text, signing_secret_enc, previous_signing_secret_enc, coalesce(previous_secret_expires_at > now(), false) AS previous_valid, api_key_enc`;

/** Every webhook's stored secrets, a page at a time in id order (each a range read of the primary key). */
async function* pagesOfSecrets(pool: Pool): AsyncGenerator<StoredSecrets[]> {
  // From below the lowest uuid.
  let after = '00000000-0000-0000-0000-000000000000';
  for (;;) {
    const { rows } = await pool.query<StoredSecrets>(`SELECT ${COLUMNS} FROM webhooks WHERE id > $1::uuid ORDER BY id LIMIT $2`, [after, BATCH]);
    if (rows.length === 0) return;
    yield rows;
    after = rows[rows.length - 1]!.id;
  }
}

/**
 * Encrypts every stored secret again with the current key: the last step of
 * a key rotation (see README, "Rotating the encryption key"), after which
 * the old key can go. `box` opens values under the current or a previous
 * key; `current` holds the current key alone.
 *
 * A webhook is rewritten only if its secrets are still what was read; one
 * changed meanwhile (an admin rotating its secret copies the stored current
 * secret, under whatever key sealed it, into the previous one) is read and
 * tried again. A previous secret past its overlap no longer signs and is
 * dropped. A webhook whose secrets no configured key opens is left as it is.
 * The admin API's kept answers (Idempotency-Key) are sealed again too. Last,
 * every webhook and kept answer is checked against the current key alone:
 * any that it does not open (unopenable, changed too often, or written
 * meanwhile by a process still sealing with the old key) are named or
 * counted, and the run fails, so the old key is not dropped while something
 * needs it. Safe to run again.
 *
 * It also seals every value to its place (format v2, see encryption.ts):
 * values of the first format, which open wherever they are put, are
 * sealed again and counted by the check until none is left.
 */
export async function reencryptSecrets(pool: Pool, box: SecretBox, current: SecretBox, log: Logger): Promise<{ rewritten: number; answers: number }> {
  /** Writes one webhook's secrets sealed again; false when it changed since `row` was read. */
  const rewrite = async (row: StoredSecrets): Promise<boolean> => {
    const signing = secretPlace.signingSecret(row.id);
    const previous = row.previous_valid ? sealedAgain(box, row.previous_signing_secret_enc, signing) : null;
    const { rowCount } = await pool.query(
      `UPDATE webhooks SET signing_secret_enc = $5, previous_signing_secret_enc = $6, api_key_enc = $7
        WHERE id = $1::uuid AND signing_secret_enc = $2 AND previous_signing_secret_enc IS NOT DISTINCT FROM $3 AND api_key_enc IS NOT DISTINCT FROM $4`,
      [row.id, row.signing_secret_enc, row.previous_signing_secret_enc, row.api_key_enc, sealedAgain(box, row.signing_secret_enc, signing), previous, sealedAgain(box, row.api_key_enc, secretPlace.apiKey(row.id))],
    );
    return rowCount === 1;
  };

  let rewritten = 0;
  for await (const rows of pagesOfSecrets(pool)) {
    for (const first of rows) {
      let row: StoredSecrets | undefined = first;
      try {
        for (let tries = 0; row && tries < TRIES; tries += 1) {
          if (await rewrite(row)) {
            rewritten += 1;
            break;
          }
          row = (await pool.query<StoredSecrets>(`SELECT ${COLUMNS} FROM webhooks WHERE id = $1::uuid`, [first.id])).rows[0];
        }
      } catch (error) {
        // Named by the check below, with every other webhook the current key does not open.
        log.error({ err: error, webhookId: first.id }, 'a webhook\'s stored secrets decrypt with no configured key; left as they are');
      }
    }
    // Progress on a long run: a line per page.
    log.info({ rewritten }, 'stored secrets encrypted again with the current key');
  }

  const answers = await reencryptIdempotentAnswers(pool, box, log);
  const stale = await notUnderCurrentKey(pool, current);
  const staleAnswers = await answersNotUnderCurrentKey(pool, current);
  const problems: string[] = [];
  if (stale.length > 0) problems.push(`${stale.length} webhook(s) have secrets the current key alone does not open, or not sealed to their webhook: ${stale.slice(0, 10).join(', ')}${stale.length > 10 ? ', …' : ''}`);
  if (staleAnswers > 0) problems.push(`${staleAnswers} kept admin API answer(s) (Idempotency-Key, kept a day) the current key alone does not open, or not sealed to their key`);
  if (problems.length > 0) {
    throw fatal(
      'SECRET_DECRYPT_FAILED',
      `${problems.join('; ')} (keep the old key in SECRETS_PREVIOUS_ENCRYPTION_KEYS; once every process runs the new key, run this again)`,
    );
  }
  return { rewritten, answers };
}

interface StoredAnswer {
  organization: string;
  token_id: string;
  idempotency_key: string;
  fingerprint_enc: string;
  response_enc: string | null;
}

/**
 * How long the admin API keeps an answer (its IDEMPOTENCY_KEY_TTL_MS): older rows waiting for its purge are never
 * opened again (a new claim replaces them), so they are neither sealed again nor checked.
 */
export const ANSWERS_KEPT_MS = 24 * 3600 * 1000;

/** Kept admin API answers (admin_idempotency_keys) still in use, a page at a time in key order. */
async function* pagesOfAnswers(pool: Pool): AsyncGenerator<StoredAnswer[]> {
  let after: [string, string, string] = ['', '', ''];
  for (;;) {
    const { rows } = await pool.query<StoredAnswer>(
      `SELECT organization, token_id, idempotency_key, fingerprint_enc, response_enc FROM admin_idempotency_keys
        WHERE (organization, token_id, idempotency_key) > ($1, $2, $3) AND created_at > now() - $5 * interval '1 millisecond'
        ORDER BY organization, token_id, idempotency_key LIMIT $4`,
      [...after, BATCH, ANSWERS_KEPT_MS],
    );
    if (rows.length === 0) return;
    yield rows;
    const last = rows[rows.length - 1]!;
    after = [last.organization, last.token_id, last.idempotency_key];
  }
}

/**
 * The admin API's kept answers of requests sent with an Idempotency-Key (a
 * day's worth; a created webhook's answer holds its secret) and their
 * request fingerprints, sealed again with the current key: a client sending
 * a request again after the old key is gone still gets its first answer. A
 * row changed meanwhile (its request answered, or the key claimed afresh)
 * was written by a process with the current key or is left for the check.
 */
async function reencryptIdempotentAnswers(pool: Pool, box: SecretBox, log: Logger): Promise<number> {
  let rewritten = 0;
  for await (const rows of pagesOfAnswers(pool)) {
    for (const row of rows) {
      let sealed: [string, string | null];
      const { request, response } = answerPlaces(row);
      try {
        sealed = [sealedAgain(box, row.fingerprint_enc, request), sealedAgain(box, row.response_enc, response)];
      } catch (error) {
        // Counted by the check below.
        log.error({ err: error, organization: row.organization }, 'a kept admin API answer decrypts with no configured key; left as it is');
        continue;
      }
      const { rowCount } = await pool.query(
        `UPDATE admin_idempotency_keys SET fingerprint_enc = $6, response_enc = $7
          WHERE organization = $1 AND token_id = $2 AND idempotency_key = $3 AND fingerprint_enc = $4 AND response_enc IS NOT DISTINCT FROM $5`,
        [row.organization, row.token_id, row.idempotency_key, row.fingerprint_enc, row.response_enc, ...sealed],
      );
      rewritten += rowCount ?? 0;
    }
  }
  log.info({ rewritten }, 'kept admin API answers encrypted again with the current key');
  return rewritten;
}

/** How many kept answers `current` (the current key alone) does not open. */
async function answersNotUnderCurrentKey(pool: Pool, current: SecretBox): Promise<number> {
  let stale = 0;
  for await (const rows of pagesOfAnswers(pool)) {
    for (const row of rows) {
      const { request, response } = answerPlaces(row);
      if (!sealedUnder(current, row.fingerprint_enc, request) || !sealedUnder(current, row.response_enc, response)) stale += 1;
    }
  }
  return stale;
}

/** `stored` opened with any configured key and sealed again with the current one, to its place. */
function sealedAgain<T extends string | null>(box: SecretBox, stored: T, place: SecretPlace): T {
  return (stored === null ? null : box.encrypt(box.decrypt(stored, place), place)) as T;
}

/** Where a kept answer and its request's fingerprint are sealed. */
function answerPlaces(row: StoredAnswer): { request: SecretPlace; response: SecretPlace } {
  const owner = { organization: row.organization, tokenId: row.token_id };
  return { request: secretPlace.idempotentRequest(owner, row.idempotency_key), response: secretPlace.idempotentAnswer(owner, row.idempotency_key) };
}

/** Whether `stored` is sealed to `place` under the key `current` holds (it alone). */
function sealedUnder(current: SecretBox, stored: string | null, place: SecretPlace): boolean {
  if (stored === null) return true;
  if (!current.isBound(stored)) return false;
  try {
    current.decrypt(stored, place);
    return true;
  } catch {
    return false;
  }
}

/** The webhooks with a secret in use that `current` (the current key alone) does not open. */
async function notUnderCurrentKey(pool: Pool, current: SecretBox): Promise<string[]> {
  const stale: string[] = [];
  for await (const rows of pagesOfSecrets(pool)) {
    for (const row of rows) {
      const signing = secretPlace.signingSecret(row.id);
      const sealed = sealedUnder(current, row.signing_secret_enc, signing) && sealedUnder(current, row.api_key_enc, secretPlace.apiKey(row.id))
        && (!row.previous_valid || sealedUnder(current, row.previous_signing_secret_enc, signing));
      if (!sealed) stale.push(row.id);
    }
  }
  return stale;
}
