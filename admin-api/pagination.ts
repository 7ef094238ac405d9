import { invalidField } from './problem.js';

/**
 * Keyset pagination: a cursor carries the sort it was made for and the last
 * row's sort value and id, so the next page starts strictly after that row
 * whatever was inserted or deleted in between. Opaque to clients.
 */
export interface CursorPosition {
  value: string;
  id: string;
}

interface CursorPayload extends CursorPosition {
  /** The sort and order the cursor belongs to, e.g. `name:asc`. */
  s: string;
}

export function encodeCursor(sortKey: string, position: CursorPosition): string {
  const payload: CursorPayload = { s: sortKey, value: position.value, id: position.id };
  return Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
}

/** The position a cursor points at; a cursor made for another sort, or not one of ours, is a 400 naming `cursor`. */
export function decodeCursor(cursor: string, sortKey: string): CursorPosition {
  let payload: Partial<CursorPayload>;
  try {
    payload = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Partial<CursorPayload>;
  } catch {
    throw invalidField('query', 'cursor', 'is not a cursor this API returned');
  }
  if (typeof payload !== 'object' || payload === null || typeof payload.value !== 'string' || typeof payload.id !== 'string') {
    throw invalidField('query', 'cursor', 'is not a cursor this API returned');
  }
  if (payload.s !== sortKey) {
    throw invalidField('query', 'cursor', `was made for sort "${String(payload.s)}", not "${sortKey}"; keep sort and order the same across pages`);
  }
  return { value: payload.value, id: payload.id };
}

/**
 * For a list query's `.catch`: Postgres refused a value of the query (a data
 * exception, class 22: not a timestamp, not a uuid, U+0000). Every other
 * input is validated before the query, so with a cursor given that is the
 * cursor's decoded content: forged or corrupted, a 400 naming `cursor`.
 */
export function refusedCursor(cursor: string | undefined): (error: unknown) => never {
  return (error) => {
    const code = (error as { code?: unknown } | null)?.code;
    if (cursor !== undefined && typeof code === 'string' && code.startsWith('22')) throw invalidField('query', 'cursor', 'is not a cursor this API returned');
    throw error;
  };
}

/** A page of `limit` rows out of `limit + 1` fetched: the extra row only tells whether there is a next page. */
export function pageOf<T>(rows: T[], limit: number, positionOf: (row: T) => CursorPosition, sortKey: string): { items: T[]; nextCursor: string | null } {
  if (rows.length <= limit) return { items: rows, nextCursor: null };
  const items = rows.slice(0, limit);
  return { items, nextCursor: encodeCursor(sortKey, positionOf(items[items.length - 1]!)) };
}

/** `%`, `_` and `\` match literally in a LIKE pattern built from user text. */
export function likePattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}
