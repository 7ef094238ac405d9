import type { Answer, ReceivedRequest } from '../../scripts/lib/receiver.js';

/** The verification challenge in a request body, or null when it is some other request. */
export function challengeOf(request: ReceivedRequest): string | null {
  try {
    const body = JSON.parse(request.body) as { type?: string; challenge?: string };
    return body.type === 'webhook.verification' && typeof body.challenge === 'string' ? body.challenge : null;
  } catch {
    return null;
  }
}

/** A receiver's handler that passes verification and answers everything else with `other`. */
export function echoingChallenges(other: (request: ReceivedRequest) => Answer | Promise<Answer> = () => ({ status: 204 })) {
  return (request: ReceivedRequest): Answer | Promise<Answer> => {
    const challenge = challengeOf(request);
    if (challenge !== null) return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ challenge }) };
    return other(request);
  };
}
