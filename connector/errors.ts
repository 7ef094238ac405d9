/**
 * One error family for the whole connector. Every failure is classified once,
 * where it is first understood, as one of:
 * - `poison`: this input can never succeed (dead-letter it and move on);
 * - `transient`: the same work may succeed later (retry it);
 * - `fatal`: the process cannot go on (stop cleanly, let the supervisor restart).
 */
export type FailureKind = 'poison' | 'transient' | 'fatal';

export class ConnectorError extends Error {
  readonly code: string;
  readonly kind: FailureKind;

  constructor(code: string, kind: FailureKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConnectorError';
    this.code = code;
    this.kind = kind;
  }

  get retryable(): boolean {
    return this.kind === 'transient';
  }
}

export const poison = (code: string, message: string, cause?: unknown): ConnectorError =>
  new ConnectorError(code, 'poison', message, { cause });

export const transient = (code: string, message: string, cause?: unknown): ConnectorError =>
  new ConnectorError(code, 'transient', message, { cause });

export const fatal = (code: string, message: string, cause?: unknown): ConnectorError =>
  new ConnectorError(code, 'fatal', message, { cause });

/** Errors we did not classify are treated as transient: retrying is safe, dropping is not. */
export function classify(error: unknown): ConnectorError {
  if (error instanceof ConnectorError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return transient('UNCLASSIFIED', message, error);
}
