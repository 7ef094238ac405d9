import type { Pool } from '../db/pool.js';
import { fatal } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { SecretBox } from './encryption.js';

/** Webhooks read and rewritten per round. */
const BATCH = 500;

interface StoredSecrets {
  id: string;
  signing_secret_enc: string;
  previous_signing_secret_enc: string | null;
  api_key_enc: string | null;
}

/**
 * Encrypts every stored secret again with the box's current key: the last
 * step of a key rotation (SECRETS_ENCRYPTION_KEY new, the old one in
 * SECRETS_PREVIOUS_ENCRYPTION_KEYS), after which the old key can go. Each
 * webhook is rewritten only if its secrets are still what was read: one an
 * admin changed meanwhile was written with the current key already (every
 * process runs the new key by then) and is left as it is. Safe to run again.
 * A webhook whose secrets no configured key opens is left as it is too, and
 * named at the end, which then fails: the run goes on past it, so one bad
 * row does not hold the rotation up.
 */
export async function reencryptSecrets(pool: Pool, box: SecretBox, log: Logger): Promise<{ rewritten: number; changedMeanwhile: number }> {
  const again = (stored: string | null): string | null => (stored === null ? null : box.encrypt(box.decrypt(stored)));
  // In id order from below the lowest uuid, so each round is a range read of the primary key.
  let after = '00000000-0000-0000-0000-000000000000';
  let rewritten = 0;
  let changedMeanwhile = 0;
  const unreadable: string[] = [];
  for (;;) {
    const { rows } = await pool.query<StoredSecrets>(
      'SELECT id::text, signing_secret_enc, previous_signing_secret_enc, api_key_enc FROM webhooks WHERE id > $1::uuid ORDER BY id LIMIT $2',
      [after, BATCH],
    );
    if (rows.length === 0) break;
    for (const row of rows) {
      let sealed: Array<string | null>;
      try {
        sealed = [again(row.signing_secret_enc), again(row.previous_signing_secret_enc), again(row.api_key_enc)];
      } catch (error) {
        unreadable.push(row.id);
        log.error({ err: error, webhookId: row.id }, 'a webhook\'s stored secrets decrypt with no configured key; left as they are');
        continue;
      }
      const { rowCount } = await pool.query(
        `UPDATE webhooks SET signing_secret_enc = $5, previous_signing_secret_enc = $6, api_key_enc = $7
          WHERE id = $1::uuid AND signing_secret_enc = $2 AND previous_signing_secret_enc IS NOT DISTINCT FROM $3 AND api_key_enc IS NOT DISTINCT FROM $4`,
        [row.id, row.signing_secret_enc, row.previous_signing_secret_enc, row.api_key_enc, ...sealed],
      );
      if (rowCount === 1) rewritten += 1;
      else changedMeanwhile += 1;
    }
    after = rows[rows.length - 1]!.id;
    // Progress on a long run: a round per 500 webhooks.
    log.info({ rewritten, changedMeanwhile }, 'stored secrets encrypted again with the current key');
  }
  if (unreadable.length > 0) {
    throw fatal('SECRET_DECRYPT_FAILED', `${unreadable.length} webhook(s) have secrets no configured key decrypts (left as they were; keep their key in SECRETS_PREVIOUS_ENCRYPTION_KEYS): ${unreadable.slice(0, 10).join(', ')}${unreadable.length > 10 ? ', …' : ''}`);
  }
  return { rewritten, changedMeanwhile };
}
