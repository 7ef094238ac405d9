import { Kafka, logLevel, type Producer } from 'kafkajs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { cacheCoordinatorLookups } from '../../connector/kafka/coordinator-cache.js';
import { createKafka } from '../../connector/kafka/client.js';
import { createRootLogger } from '../../connector/observability/logger.js';
import { testConfig, uniqueName } from '../support/harness.js';

/**
 * kafkajs looks the coordinator up before every transactional request. On a
 * real broker, count the FindCoordinator requests of transactions like the
 * router's (send, offsets, commit) with and without the cache.
 */
describe('coordinator lookups', () => {
  const config = testConfig(inject('services'));
  const topic = `${config.topics.deliveries}.coordinator`;
  const producers: Producer[] = [];

  afterAll(async () => {
    await Promise.all(producers.map((producer) => producer.disconnect()));
  });

  /** Runs `count` transactions and returns how many FindCoordinator requests they made. */
  const transactions = async (kafka: Kafka, count: number, between?: () => void): Promise<number> => {
    const producer = kafka.producer({ transactionalId: uniqueName('coordinator-test'), idempotent: true, maxInFlightRequests: 1 });
    producers.push(producer);
    let lookups = 0;
    producer.on(producer.events.REQUEST, ({ payload }) => {
      if (payload.apiName === 'GroupCoordinator') lookups += 1;
    });
    await producer.connect();
    lookups = 0;
    for (let i = 0; i < count; i += 1) {
      between?.();
      const transaction = await producer.transaction();
      await transaction.send({ topic, messages: [{ key: 'k', value: String(i) }] });
      await transaction.sendOffsets({ consumerGroupId: uniqueName('g'), topics: [{ topic, partitions: [{ partition: 0, offset: String(i + 1) }] }] });
      await transaction.commit();
    }
    return lookups;
  };

  it('looks the transaction coordinator up once per TTL instead of before every request', async () => {
    const plain = new Kafka({ brokers: config.kafka.brokers, logLevel: logLevel.NOTHING });
    const admin = plain.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
    await admin.disconnect();

    // Unpatched kafkajs: several lookups per transaction (this is what the cache is for).
    const uncached = await transactions(plain, 5);
    expect(uncached).toBeGreaterThanOrEqual(5 * 3);

    // The connector's clients: the transaction coordinator is found once; each fresh consumer group once, or twice
    // when the broker answers that group's coordinator is still loading (seen once in hundreds of runs).
    const cached = await transactions(createKafka(config.kafka, createRootLogger({ level: 'error' })), 5);
    expect(cached).toBeLessThanOrEqual(1 + 5 + 2);
    expect(cached).toBeLessThan(uncached / 2);
  });

  it('looks again once an entry is older than the TTL', async () => {
    let clock = 0;
    const kafka = new Kafka({ brokers: config.kafka.brokers, logLevel: logLevel.NOTHING });
    expect(cacheCoordinatorLookups(kafka, 1000, () => clock)).toBe(true);
    // Each transaction moves the clock past the TTL: every transaction finds its coordinators again.
    const expired = await transactions(kafka, 3, () => (clock += 5000));
    expect(expired).toBeGreaterThanOrEqual(3 * 2);
  });
});
