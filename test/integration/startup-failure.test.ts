import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../config/load.js';
import { createKafka, createProducer } from '../../connector/kafka/client.js';
import { connectorTopics, ensureTopics } from '../../connector/kafka/topics.js';
import { createRootLogger } from '../../connector/observability/logger.js';
import { spawnConnector } from '../support/connector-process.js';
import { testEnv } from '../support/harness.js';
import { waitFor } from '../support/wait.js';

/**
 * A connector whose start-up fails once its roles run (here, its ops port is
 * taken, as when the connector and the admin API both keep the default)
 * stops those roles in order before it exits: its consumers leave their
 * groups rather than hold their partitions until the session times out.
 */
describe('a start-up failure after the roles started', () => {
  const services = inject('services');
  const taken = createServer();
  let env: Record<string, string>;

  beforeAll(async () => {
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    env = testEnv(services, { SERVER_PORT: String((taken.address() as AddressInfo).port), KAFKA_SESSION_TIMEOUT_MS: '30000' });
    const config = loadConfig(env);
    const kafka = createKafka(config.kafka, createRootLogger({ level: 'error' }), 'test');
    await ensureTopics(kafka, connectorTopics(config), 1);
    // A task in the deliveries topic, so the deliverer's group has joined and holds a partition when start-up fails.
    const producer = createProducer(kafka);
    await producer.connect();
    await producer.send({ topic: config.topics.deliveries, messages: [{ key: 'none', value: '{"v":1}' }] });
    await producer.disconnect();
  });

  afterAll(async () => {
    await new Promise((resolve) => taken.close(resolve));
  });

  it('leaves the consumer group and exits 1', async () => {
    const connector = spawnConnector('deliverer', env);
    expect(await connector.exited, connector.output().slice(-3000)).toBe(1);
    expect(connector.output()).toMatch(/start-up failed.*EADDRINUSE/s);
    const config = loadConfig(env);
    const admin = createKafka(config.kafka, createRootLogger({ level: 'error' }), 'test').admin();
    await admin.connect();
    try {
      // Left in order, the group is empty at once; a member that vanished would stay for the 30 s session timeout.
      const state = await waitFor('the group described', async () => (await admin.describeGroups([config.deliverer.groupId])).groups[0], 5000);
      expect(state.members).toEqual([]);
    } finally {
      await admin.disconnect();
    }
  });
});
