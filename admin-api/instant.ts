/**
 * Microseconds since the epoch of a date-time the API's schema accepted
 * (RFC 3339, seconds 00–59), at the precision Postgres keeps: its fraction
 * rounded to the microsecond. Date.parse keeps milliseconds only, so two
 * times in the same millisecond (a walk's nextSince and an until sent with
 * microseconds) would compare equal in JavaScript and not in the query.
 */
export function instantMicros(text: string): bigint {
  const fraction = /\.([0-9]+)/.exec(text);
  const wholeSecondsMs = Date.parse(fraction ? text.replace(fraction[0], '') : text);
  const micros = fraction ? Math.round(Number(`0.${fraction[1]}`) * 1e6) : 0;
  // A bigint: microseconds since 1970 pass 2^53 some 285 years either side of it.
  return BigInt(wholeSecondsMs) * 1000n + BigInt(micros);
}
