import { describe, expect, it } from 'vitest';
import { createVerificationRunner } from '../../admin-api/verification-runner.js';
import type { WebhookRow } from '../../admin-api/store/webhooks.js';
import type { Pool } from '../../connector/db/pool.js';
import { createRootLogger } from '../../connector/observability/logger.js';

const row = (id: string, url: string): WebhookRow => ({ id, url, organization: 'acme' }) as WebhookRow;

describe('background verification challenges', () => {
  it('challenges a webhook once per URL while its challenge is queued or out, and again once it has answered', async () => {
    const challenged: string[] = [];
    const waiting: Array<() => void> = [];
    const answerAll = () => waiting.splice(0).forEach((resolve) => resolve());
    const runner = createVerificationRunner({
      // Records nothing: the result's write is not what this test is about.
      pool: { query: async () => ({ rows: [] }) } as unknown as Pool,
      verifier: { challenge: async (webhook) => (challenged.push(`${webhook.id} ${webhook.url}`), await new Promise<void>((resolve) => waiting.push(resolve)), null) },
      log: createRootLogger({ level: 'silent' }),
    });
    runner.start(row('a', 'https://one.example'));
    // Found again by the sweep of stalled verifications while the first is out: not challenged twice.
    runner.start(row('a', 'https://one.example'));
    await expect.poll(() => challenged).toEqual(['a https://one.example']);
    // Re-pointed meanwhile: the new URL is challenged too.
    runner.start(row('a', 'https://two.example'));
    await expect.poll(() => challenged).toHaveLength(2);
    answerAll();
    await runner.drain();
    runner.start(row('a', 'https://one.example'));
    await expect.poll(() => challenged).toHaveLength(3);
    answerAll();
    await runner.drain();
  });
});
