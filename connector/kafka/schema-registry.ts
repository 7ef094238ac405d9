import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import type avro from 'avsc';
import { poison, transient } from '../errors.js';

/**
 * The registry as the connector uses it. Wrapping the client keeps the
 * library swappable and classifies its failures once: a schema id the
 * registry does not know is poison, anything else (outage, 5xx) is transient.
 */
export interface SchemaRegistryClient {
  writerType(schemaId: number): Promise<avro.Type>;
  register(subject: string, schema: object): Promise<number>;
  encode(schemaId: number, value: unknown): Promise<Buffer>;
  setCompatibility(subject: string, level: 'BACKWARD' | 'FORWARD' | 'FULL' | 'NONE'): Promise<void>;
}

export function createSchemaRegistryClient(options: { url: string; username: string; password: string }): SchemaRegistryClient {
  const auth = options.username ? { username: options.username, password: options.password } : undefined;
  const registry = new SchemaRegistry({ host: options.url, ...(auth ? { auth } : {}), retry: { retries: 2 } });

  return {
    async writerType(schemaId) {
      try {
        return (await registry.getSchema(schemaId)) as unknown as avro.Type;
      } catch (error) {
        const status = (error as { status?: number }).status;
        if (status === 404) throw poison('UNKNOWN_SCHEMA_ID', `schema id ${schemaId} is not in the registry`, error);
        throw transient('REGISTRY_UNAVAILABLE', `schema registry did not return schema ${schemaId}: ${(error as Error).message}`, error);
      }
    },
    async register(subject, schema) {
      const { id } = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(schema) }, { subject });
      return id;
    },
    encode: (schemaId, value) => registry.encode(schemaId, value),
    async setCompatibility(subject, level) {
      const response = await fetch(`${options.url.replace(/\/$/, '')}/config/${encodeURIComponent(subject)}`, {
        method: 'PUT',
        headers: {
          'content-type': 'application/vnd.schemaregistry.v1+json',
          ...(auth ? { authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` } : {}),
        },
        body: JSON.stringify({ compatibility: level }),
      });
      if (!response.ok) throw transient('REGISTRY_CONFIG_FAILED', `setting ${level} on ${subject} failed: HTTP ${response.status} ${await response.text()}`);
    },
  };
}
