import { readFileSync } from 'node:fs';
import type avro from 'avsc';

/**
 * The source families and their reader schemas, one topic each. The catalog
 * family of an event decides routing; the topic decides the schema, so an
 * event must travel on the topic whose schema carries its fields:
 * admin-family events (platform configuration objects) travel on the group
 * topic, whose payload carries resource fields for them.
 */
export const SOURCE_FAMILIES = ['user', 'group', 'auth'] as const;
export type SourceFamily = (typeof SOURCE_FAMILIES)[number];

/** Which source topic's schema carries a catalog family's fields (admin objects travel with groups). */
export function sourceFamilyOf(catalogFamily: string): SourceFamily {
  if (catalogFamily === 'user' || catalogFamily === 'auth') return catalogFamily;
  return 'group';
}

const FILES: Record<SourceFamily, string> = {
  user: 'identity-user-event.avsc',
  group: 'identity-group-event.avsc',
  auth: 'identity-auth-event.avsc',
};

export function readerSchema(family: SourceFamily): avro.Schema {
  return JSON.parse(readFileSync(new URL(`./${FILES[family]}`, import.meta.url), 'utf8')) as avro.Schema;
}

export function readerSchemas(): Record<SourceFamily, avro.Schema> {
  return { user: readerSchema('user'), group: readerSchema('group'), auth: readerSchema('auth') };
}
