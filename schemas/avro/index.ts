import { readFileSync } from 'node:fs';
import type avro from 'avsc';

/** Reader schemas of the source families, by family name; one source topic each. */
export type SourceFamily = 'user';

function readSchema(file: string): avro.Schema {
  return JSON.parse(readFileSync(new URL(`./${file}`, import.meta.url), 'utf8')) as avro.Schema;
}

export function readerSchemas(): Record<SourceFamily, avro.Schema> {
  return { user: readSchema('identity-user-event.avsc') };
}
