import type { Producer } from 'kafkajs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createKafka } from '../../connector/kafka/client.js';
import { ensureTopics } from '../../connector/kafka/topics.js';
import { createRootLogger } from '../../connector/observability/logger.js';
import { testConfig, uniqueName } from '../support/harness.js';
import { readTopic, type TopicReader } from '../support/topic-reader.js';
import { waitFor } from '../support/wait.js';

const log = createRootLogger({ level: process.env['TEST_LOG_LEVEL'] ?? 'error' });

/**
 * A read_committed reader must not see records of aborted transactions, even
 * when the broker lists them out of first-offset order. That is the order a
 * router's successor leaves behind: each of the crashed router's partition
 * lanes had a transaction open on the same task partition, and the successor
 * aborts them one lane at a time, not in the order they began.
 */
describe('read_committed consumers', () => {
  const config = testConfig(inject('services'));
  const kafka = createKafka(config.kafka, log, 'test');
  const producers: Producer[] = [];
  const readers: TopicReader[] = [];

  afterAll(async () => {
    for (const reader of readers) await reader.close();
    await Promise.all(producers.map((producer) => producer.disconnect()));
  });

  const transactional = async (): Promise<Producer> => {
    const producer = kafka.producer({ transactionalId: uniqueName('aborted-test'), idempotent: true, maxInFlightRequests: 1 });
    producers.push(producer);
    await producer.connect();
    return producer;
  };

  it('drop every record of transactions aborted in another order than they began, and nothing committed', async () => {
    const topic = `${config.topics.deliveries}.aborted`;
    await ensureTopics(kafka, [{ topic, numPartitions: 1 }], 1);
    const send = (target: { send: Producer['send'] }, label: string, count: number) =>
      target.send({ topic, messages: Array.from({ length: count }, (_, i) => ({ key: 'k', value: `${label}-${i}` })) });
    const [a, b] = [await transactional(), await transactional()];

    // A commits once, so its later abort must not swallow what it committed before.
    const aCommitted = await a.transaction();
    await send(aCommitted, 'a-committed', 3);
    await aCommitted.commit();
    // A begins first, B second, their records interleave; B is aborted first, A second.
    const aAborted = await a.transaction();
    const bAborted = await b.transaction();
    await send(aAborted, 'a-aborted', 40);
    await send(bAborted, 'b-aborted', 40);
    await send(aAborted, 'a-aborted-more', 40);
    await bAborted.abort();
    await aAborted.abort();
    // And both commit afterwards.
    for (const [producer, label] of [[a, 'a-after'], [b, 'b-after']] as const) {
      const transaction = await producer.transaction();
      await send(transaction, label, 3);
      await transaction.commit();
    }
    const expected = ['a-committed', 'a-after', 'b-after'].flatMap((label) => [0, 1, 2].map((i) => `${label}-${i}`));

    // Small fetches too, so aborted transactions that began before a fetch's first record are met as well.
    for (const maxBytesPerPartition of [1024 * 1024, 512]) {
      const reader = await readTopic(kafka, topic, { maxBytesPerPartition });
      readers.push(reader);
      await waitFor('the committed records', () => reader.messages.some((m) => m.value?.toString() === 'b-after-2'), 30_000);
      expect(reader.messages.map((m) => m.value?.toString())).toEqual(expected);
    }
  });
});
