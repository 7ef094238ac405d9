import type { Logger } from '../connector/observability/logger.js';
import { recordVerification, type WebhookRow } from './store/webhooks.js';
import type { Pool } from '../connector/db/pool.js';
import type { Verifier } from './verification.js';
import { createFairLimit } from './fair-limit.js';
import { ApiProblem } from './problem.js';

/**
 * Runs verification challenges: in the background right after a webhook is
 * created or re-pointed (the admin's request does not wait up to 15 s for a
 * slow endpoint), or on demand. Shutdown waits for challenges under way.
 */
export interface VerificationRunner {
  run(row: WebhookRow): Promise<WebhookRow | null>;
  start(row: WebhookRow): void;
  drain(): Promise<void>;
}

/** Background challenges out at once per admin API process; later ones wait their turn. */
export const MAX_CONCURRENT_CHALLENGES = 16;
/** Of those, one organization's at most: the rest are left to the others'. */
export const MAX_CHALLENGES_PER_ORGANIZATION = 4;
/** An organization's own checks (POST /verify) out at once per process; past it, a 429. */
export const MAX_CHECKS_PER_ORGANIZATION = 4;

/**
 * `maxConcurrent` bounds the background challenges out at once: each is an outgoing POST to an address an admin
 * chose, up to 15 s long, and without a bound a burst of webhooks created against slow URLs would hold hundreds of
 * them open. They start organization by organization in turn, each organization with at most `maxPerOrganization`
 * out, so one that creates hundreds of webhooks against a slow URL delays its own, not every other's. An admin's own
 * check waits for its answer rather than queueing; an organization has at most `maxChecksPerOrganization` of those
 * out at once.
 */
export function createVerificationRunner(deps: {
  pool: Pool;
  verifier: Verifier;
  log: Logger;
  maxConcurrent?: number;
  maxPerOrganization?: number;
  maxChecksPerOrganization?: number;
}): VerificationRunner {
  const running = new Set<Promise<unknown>>();
  const started = new Set<string>();
  const background = createFairLimit(deps.maxConcurrent ?? MAX_CONCURRENT_CHALLENGES, deps.maxPerOrganization ?? MAX_CHALLENGES_PER_ORGANIZATION);
  const maxChecks = deps.maxChecksPerOrganization ?? MAX_CHECKS_PER_ORGANIZATION;
  // Counted per organization as the background ones are; a check past the bound is refused, never queued.
  const checks = createFairLimit(Number.POSITIVE_INFINITY, maxChecks);
  const record = (row: WebhookRow, problem: string | null): Promise<WebhookRow | null> => {
    deps.log.info({ webhookId: row.id, verified: problem === null, problem }, 'verification challenge answered');
    return recordVerification(deps.pool, row.id, row.url, problem);
  };
  return {
    // An admin's own check (POST /verify) waits for its answer: it does not queue behind the background ones.
    async run(row) {
      const out = checks.running(row.organization);
      if (out >= maxChecks) {
        throw new ApiProblem('rate-limited', `${out} verification checks of this organization are under way (at most ${maxChecks} at once); retry once one has answered`, undefined, { 'retry-after': '5' });
      }
      return checks.run(row.organization, async () => record(row, await deps.verifier.challenge(row)));
    },
    start(row) {
      // Once per webhook and URL while queued or out: the sweep of stalled ones may find one still waiting its turn here.
      const key = `${row.id} ${row.url}`;
      if (started.has(key)) return;
      started.add(key);
      const task = background.run(row.organization, () => deps.verifier.challenge(row))
        .then((problem) => record(row, problem))
        .catch((error: unknown) => deps.log.warn({ err: error, webhookId: row.id }, 'verification challenge could not be recorded'));
      running.add(task);
      void task.finally(() => {
        running.delete(task);
        started.delete(key);
      });
    },
    async drain() {
      // Those still waiting go out now, all at once, as before the limit: the drain is bound by one challenge's timeout.
      background.lift();
      await Promise.allSettled([...running]);
    },
  };
}
