import type { Outcome } from './outcome.js';

/**
 * A per-endpoint circuit breaker, as pure state transitions. Closed: requests
 * go out; after `failureThreshold` failures in a row it opens. Open: requests
 * are not sent (their tasks take the retry path) until `openMs` passed. Then
 * half-open: one probe goes out; success closes, failure opens again.
 */
export interface BreakerPolicy {
  failureThreshold: number;
  openMs: number;
}

export type BreakerState =
  | { kind: 'closed'; failures: number }
  | { kind: 'open'; until: number }
  | { kind: 'half-open'; probeInFlight: boolean };

export const CLOSED: BreakerState = { kind: 'closed', failures: 0 };

/** May a request go out now? Returns the state to keep (a half-open breaker admits one probe). */
export function admit(state: BreakerState, now: number): { allowed: boolean; state: BreakerState } {
  switch (state.kind) {
    case 'closed':
      return { allowed: true, state };
    case 'open':
      return now >= state.until ? { allowed: true, state: { kind: 'half-open', probeInFlight: true } } : { allowed: false, state };
    case 'half-open':
      return state.probeInFlight ? { allowed: false, state } : { allowed: true, state: { kind: 'half-open', probeInFlight: true } };
  }
}

/**
 * When a request the breaker refused might be admitted: when an open breaker
 * turns half-open, or, while a probe is out, once its answer could have come
 * and a failed probe's new open spell passed. A task shed now waits until
 * then on the retry path, neither sent nor counted as an attempt.
 */
export function admitsAgainAt(state: BreakerState, policy: BreakerPolicy, now: number): number {
  switch (state.kind) {
    case 'closed':
      return now;
    case 'open':
      return Math.max(now, state.until);
    case 'half-open':
      return now + Math.max(policy.openMs, MIN_PROBE_WAIT_MS);
  }
}

/** Least wait behind a probe still out: not a tight loop of refusals while it is answered. */
export const MIN_PROBE_WAIT_MS = 1000;

export function recordSuccess(): BreakerState {
  return CLOSED;
}

export function recordFailure(state: BreakerState, policy: BreakerPolicy, now: number): BreakerState {
  if (state.kind === 'closed' && state.failures + 1 < policy.failureThreshold) return { kind: 'closed', failures: state.failures + 1 };
  return { kind: 'open', until: now + policy.openMs };
}

/**
 * The breaker after an attempt was sent and decided. Only a retryable failure (408, 429, 5xx, a timeout, a
 * connection error) says the endpoint is unwell. Any other answer says it is up, closing the breaker and ending
 * a probe: an endpoint that refuses some events with 400, or that the webhook's own settings keep from being
 * reached (a final error), would otherwise shed its healthy deliveries to the retry path.
 */
export function breakerAfter(state: BreakerState, decision: Outcome['decision'], policy: BreakerPolicy, now: number): BreakerState {
  return decision === 'retry' ? recordFailure(state, policy, now) : recordSuccess();
}
