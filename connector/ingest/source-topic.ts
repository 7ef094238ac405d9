import { poison } from '../errors.js';
import { sourceFamilyOf, type SourceFamily } from '../../schemas/avro/index.js';
import type { AvroDecoder } from './decode.js';

/** A source topic the router reads: the decoder of its reader schema, and the source family that schema is for. */
export interface SourceTopic {
  decoder: AvroDecoder;
  family: SourceFamily;
}

/**
 * Refuses an event on another family's topic, whose schema is not made for
 * its fields: a USER_REMOVED_FROM_GROUP on the user topic would reach its
 * receivers without the group it names, the user schema having no group
 * fields. Judged by family, not field by field, so producers keep to one
 * rule. The reason names the topic it belongs on, so the producer can be
 * fixed; the record waits in the ingest dead-letter topic to be replayed.
 */
export function checkSourceTopic(eventType: string, catalogFamily: string, carried: SourceFamily, topicOf: (family: SourceFamily) => string | undefined): void {
  const expected = sourceFamilyOf(catalogFamily);
  if (expected === carried) return;
  const there = topicOf(expected);
  throw poison(
    'WRONG_SOURCE_TOPIC',
    `${eventType} is a ${catalogFamily} event: it belongs on the ${expected} topic${there ? ` (${there})` : ''}, whose schema carries its fields; this topic's ${carried} schema does not`,
  );
}
