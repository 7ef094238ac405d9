import { randomUUID } from 'node:crypto';
import { createProducer } from '../../connector/kafka/client.js';
import type { Kafka } from 'kafkajs';
import { readerSchemas } from '../../schemas/avro/index.js';
import type { SchemaRegistryClient } from '../../connector/kafka/schema-registry.js';

/** A user event as producers write it (the Avro record of schemas/avro/identity-user-event.avsc). */
export interface UserEventRecord {
  eventId: string;
  eventType: string;
  occurredAt: number;
  organization: string;
  actor: string | null;
  source: string;
  schemaVersion: number;
  payload: {
    username: string | null;
    email: string | null;
    userId: string;
    organization: string | null;
    remainingSeats: number | null;
  };
}

export function sampleUserEvent(overrides: Partial<UserEventRecord> & { organization: string }): UserEventRecord {
  return {
    eventId: randomUUID(),
    eventType: 'USER_CREATED',
    occurredAt: Date.now(),
    actor: null,
    source: 'sample-producer',
    schemaVersion: 1,
    payload: { username: 'demo', email: 'demo@example.com', userId: randomUUID(), organization: overrides.organization, remainingSeats: 5 },
    ...overrides,
  };
}

/** Registers the user-event schema under `<topic>-value` with BACKWARD compatibility; returns its id. */
export async function registerUserEventSchema(registry: SchemaRegistryClient, topic: string): Promise<number> {
  const subject = `${topic}-value`;
  const id = await registry.register(subject, readerSchemas().user as object);
  await registry.setCompatibility(subject, 'BACKWARD');
  return id;
}

export async function produceUserEvents(kafka: Kafka, registry: SchemaRegistryClient, schemaId: number, topic: string, events: UserEventRecord[]): Promise<void> {
  const producer = createProducer(kafka);
  await producer.connect();
  try {
    const messages = await Promise.all(events.map(async (event) => ({ key: event.payload.userId, value: await registry.encode(schemaId, event) })));
    await producer.send({ topic, messages });
  } finally {
    await producer.disconnect();
  }
}
