import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import type { ConnectorConfig } from '../../config/load.js';
import type { EventCatalog } from '../../connector/events/catalog.js';
import { createProducer } from '../../connector/kafka/client.js';
import { samplePayload } from '../../connector/events/sample-payload.js';
import type { SchemaRegistryClient } from '../../connector/kafka/schema-registry.js';
import { readerSchema, SOURCE_FAMILIES, sourceFamilyOf, type SourceFamily } from '../../schemas/avro/index.js';

/** A source record as identity platforms write it (header + family payload). */
export interface IdentityEventRecord {
  eventId: string;
  eventType: string;
  occurredAt: number;
  organization: string;
  actor: string | null;
  source: string;
  schemaVersion: number;
  payload: Record<string, unknown>;
}

export function topicOf(config: Pick<ConnectorConfig, 'topics'>, family: SourceFamily): string {
  return { user: config.topics.userEvents, group: config.topics.groupEvents, auth: config.topics.authEvents }[family];
}

/** A plausible event of any catalog type; fields left out take their schema defaults. */
export function sampleEvent(catalog: EventCatalog, eventType: string, organization: string, payload: Record<string, unknown> = {}): IdentityEventRecord {
  const base = samplePayload(catalog, eventType, organization);
  return {
    eventId: randomUUID(),
    eventType,
    occurredAt: Date.now(),
    organization,
    actor: null,
    source: 'sample-producer',
    schemaVersion: 1,
    payload: { ...base, ...payload },
  };
}

/** Registers each family's schema under `<topic>-value` with BACKWARD compatibility; returns the ids. */
export async function registerSchemas(registry: SchemaRegistryClient, config: Pick<ConnectorConfig, 'topics'>): Promise<Record<SourceFamily, number>> {
  const ids = {} as Record<SourceFamily, number>;
  for (const family of SOURCE_FAMILIES) {
    const subject = `${topicOf(config, family)}-value`;
    await registry.setCompatibility(subject, 'BACKWARD');
    ids[family] = await registry.register(subject, readerSchema(family) as object);
  }
  return ids;
}

/** Encodes with the given writer schema id and produces, keyed by user id (per-user order at the source). */
export async function produceEvents(kafka: Kafka, registry: SchemaRegistryClient, schemaId: number, topic: string, events: IdentityEventRecord[]): Promise<void> {
  // Idempotent: a send retried after a timeout (a broker that just started is slow) must not write its records twice.
  const producer = createProducer(kafka, { idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    const messages = await Promise.all(
      events.map(async (event) => ({ key: String(event.payload['userId'] ?? event.eventId), value: await registry.encode(schemaId, event) })),
    );
    await producer.send({ topic, messages });
  } finally {
    await producer.disconnect();
  }
}

export interface SampleProducer {
  /** Encodes each event with its family's writer schema and produces it to its family's topic. */
  send(events: IdentityEventRecord[]): Promise<void>;
  close(): Promise<void>;
}

/**
 * One connected producer for a stream of sample events of any family (the
 * demo's steady flow): each event goes to the topic of its catalog family.
 */
export async function createSampleProducer(
  kafka: Kafka,
  registry: SchemaRegistryClient,
  catalog: EventCatalog,
  config: Pick<ConnectorConfig, 'topics'>,
  schemaIds: Record<SourceFamily, number>,
): Promise<SampleProducer> {
  const producer = createProducer(kafka);
  await producer.connect();
  return {
    async send(events) {
      const byTopic = new Map<string, Array<{ key: string; value: Buffer }>>();
      for (const event of events) {
        const family = sourceFamilyOf(catalog.familyOf(event.eventType) ?? 'group');
        const topic = topicOf(config, family);
        const messages = byTopic.get(topic) ?? [];
        messages.push({ key: String(event.payload['userId'] ?? event.eventId), value: await registry.encode(schemaIds[family], event) });
        byTopic.set(topic, messages);
      }
      if (byTopic.size > 0) await producer.sendBatch({ topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) });
    },
    close: () => producer.disconnect(),
  };
}
