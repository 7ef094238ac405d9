/** An escaped U+0000 that starts no escaped backslash's text: an even run of backslashes (escaped ones) may precede it. */
const ESCAPED_NUL = /(?<!\\)((?:\\\\)*)\\u0000/g;

/**
 * JSON text whose strings Postgres can store. Postgres refuses U+0000 in
 * text and jsonb values (SQLSTATE 22P05), and an endpoint's answer or an
 * event's payload may hold one: the row would be refused whole. Each NUL
 * becomes U+FFFD, the replacement character, as a decoder marks what it
 * cannot represent. Only escapes are replaced: `\\u0000` in JSON text is the
 * six characters `\u0000`, a backslash and "u0000", and stays.
 */
export function nulFreeJson(json: string): string {
  return json.includes('\\u0000') ? json.replace(ESCAPED_NUL, '$1\\ufffd') : json;
}
