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

export function recordSuccess(): BreakerState {
  return CLOSED;
}

export function recordFailure(state: BreakerState, policy: BreakerPolicy, now: number): BreakerState {
  if (state.kind === 'closed' && state.failures + 1 < policy.failureThreshold) return { kind: 'closed', failures: state.failures + 1 };
  return { kind: 'open', until: now + policy.openMs };
}
