import { describe, expect, it } from 'vitest';
import { IDEMPOTENCY_KEY_TTL_MS } from '../../admin-api/store/idempotency.js';
import { ANSWERS_KEPT_MS } from '../../connector/security/reencrypt.js';

describe('reencrypt-secrets scope', () => {
  it('seals again and checks the kept admin API answers for as long as the admin API gives them again', () => {
    // Shorter, an answer still given again would be left under the old key; longer, one past its day could fail a run.
    expect(ANSWERS_KEPT_MS).toBe(IDEMPOTENCY_KEY_TTL_MS);
  });
});
