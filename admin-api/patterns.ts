/**
 * The string patterns of the admin API's schemas, and what each asks for in
 * words, so a refused field is explained in the problem's `errors`.
 */

/** Text the API stores or queries with: Postgres text cannot hold U+0000. */
export const NO_NUL = '^[^\\u0000]*$';

/**
 * A UUID as Postgres reads it. Format uuid alone also takes a `urn:uuid:`
 * prefix, which Postgres refuses: the query would fail and answer 500.
 */
export const UUID = '^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$';

/** A header name. */
export const HEADER_NAME = '^[A-Za-z0-9-]+$';

/**
 * A header value: printable ASCII, no space at either end (HTTP drops those, so the receiver would never see the
 * value as given, and the delivery log's redaction would look for the wrong one).
 */
export const HEADER_VALUE = '^[\\x21-\\x7e](?:[\\x20-\\x7e]*[\\x21-\\x7e])?$';

/**
 * On top of format date-time: what Postgres accepts too (year 0001 or later,
 * a UTC offset of at most 15:59), so a query never fails on it; and no leap
 * second (":60", which minutes and offsets never show), which Postgres rolls
 * over to the next minute while JavaScript cannot read it at all, so the
 * two would disagree on the time; and `T` or an ASCII space between date
 * and time (the format takes any space, a no-break space too, which
 * Postgres refuses).
 */
export const QUERYABLE_DATE_TIME = '^(?!.*:60)(?=[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ])([0-9]{3}[1-9]|[0-9]{2}[1-9][0-9]|[0-9][1-9][0-9]{2}|[1-9][0-9]{3})-.*([Zz]|[+-](0[0-9]|1[0-5]):[0-5][0-9])$';

/** A page cursor: base64url. */
export const CURSOR = '^[A-Za-z0-9_-]+$';

export const PATTERN_MESSAGES: Readonly<Record<string, string>> = {
  [NO_NUL]: 'must not contain the character U+0000',
  [UUID]: 'must be a UUID (8-4-4-4-12 hexadecimal digits)',
  [HEADER_NAME]: 'must be a header name (letters, digits and dashes)',
  [HEADER_VALUE]: 'must be printable ASCII without spaces at either end (it is sent as a header value)',
  [QUERYABLE_DATE_TIME]: 'must be in year 0001 or later, with T or a space between date and time, seconds 00 to 59 and a UTC offset of at most 15:59',
  [CURSOR]: 'is not a cursor this API returned',
};
