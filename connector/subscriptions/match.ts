/**
 * Does a subscription pattern select an event? Patterns are an exact event
 * type (`USER_CREATED`), a family wildcard (`user.*`) or everything (`*`).
 */
export function patternMatches(pattern: string, eventType: string, family: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('.*')) return pattern.slice(0, -2) === family;
  return pattern === eventType;
}

/** The index keys under which an event of this type is looked up, most specific first. */
export function lookupKeys(eventType: string, family: string): [string, string, string] {
  return [eventType, `${family}.*`, '*'];
}
