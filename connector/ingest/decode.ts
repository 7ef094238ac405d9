import avro from 'avsc';
import type { SchemaRegistryClient } from '../kafka/schema-registry.js';
import { classify, poison } from '../errors.js';

const MAGIC_BYTE = 0;
const HEADER_BYTES = 5;

/**
 * Decodes Confluent wire-format Avro (magic 0, 4-byte schema id, body) with
 * the writer's schema from the registry, resolved to the router's reader
 * schema. A producer on a newer or older compatible schema keeps flowing:
 * added fields with defaults are dropped or defaulted by the resolver.
 */
export interface AvroDecoder {
  decode(value: Buffer | null): Promise<Record<string, unknown>>;
}

export function createAvroDecoder(registry: SchemaRegistryClient, readerSchema: avro.Schema): AvroDecoder {
  const readerType = avro.Type.forSchema(readerSchema);
  // One resolver per writer schema id, built on first sight; ids are immutable in a registry.
  const resolvers = new Map<number, Promise<avro.Resolver>>();

  const resolverFor = (schemaId: number): Promise<avro.Resolver> => {
    let resolver = resolvers.get(schemaId);
    if (!resolver) {
      resolver = (async () => {
        const writerType = await registry.writerType(schemaId);
        try {
          return readerType.createResolver(writerType);
        } catch (error) {
          throw poison('SCHEMA_INCOMPATIBLE', `writer schema ${schemaId} cannot be resolved to the reader schema: ${(error as Error).message}`, error);
        }
      })();
      resolvers.set(schemaId, resolver);
      // Only a definitive answer is cached; a registry outage is retried on the next record.
      resolver.catch((error: unknown) => {
        if (classify(error).kind !== 'poison') resolvers.delete(schemaId);
      });
    }
    return resolver;
  };

  return {
    async decode(value) {
      if (!value || value.length < HEADER_BYTES || value[0] !== MAGIC_BYTE) {
        throw poison('NOT_AVRO_WIRE_FORMAT', 'record value is not Confluent wire-format Avro (magic byte 0 + schema id)');
      }
      const schemaId = value.readInt32BE(1);
      const resolver = await resolverFor(schemaId);
      try {
        return readerType.fromBuffer(value.subarray(HEADER_BYTES), resolver) as Record<string, unknown>;
      } catch (error) {
        throw poison('AVRO_DECODE_FAILED', `record body does not decode with writer schema ${schemaId}: ${(error as Error).message}`, error);
      }
    },
  };
}
