import type { ServiceEndpoints } from '../../scripts/stack/options.js';

export type { ServiceEndpoints } from '../../scripts/stack/options.js';

export interface ProvidedServices {
  endpoints: ServiceEndpoints;
  source: 'env' | 'testcontainers' | 'local-stack';
  stop(): Promise<void>;
}

type Log = (line: string) => void;

/** A Docker engine answers? Asked with a short timeout: here there is only the client. */
async function dockerEngineAvailable(): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), 5000).unref());
    await Promise.race([getContainerRuntimeClient(), timeout]);
    return true;
  } catch {
    return false;
  }
}

/** Kafka (KRaft), Apicurio Registry and Postgres as containers, for machines with Docker. */
async function startContainers(log: Log): Promise<ProvidedServices> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const { createServer } = await import('node:net');
  // Kafka must advertise the port the host sees, so that port is chosen before the container starts.
  const kafkaPort = await new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
  log('starting containers: apache/kafka:3.9.1, apicurio/apicurio-registry:3.0.9, postgres:18');
  const [kafka, registry, postgres] = await Promise.all([
    new GenericContainer('apache/kafka:3.9.1')
      .withExposedPorts({ container: 9092, host: kafkaPort })
      .withEnvironment({
        KAFKA_NODE_ID: '1',
        KAFKA_PROCESS_ROLES: 'broker,controller',
        KAFKA_LISTENERS: 'PLAINTEXT://:9092,CONTROLLER://:9093',
        KAFKA_ADVERTISED_LISTENERS: `PLAINTEXT://127.0.0.1:${kafkaPort}`,
        KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
        KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
        KAFKA_CONTROLLER_QUORUM_VOTERS: '1@localhost:9093',
        KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
        KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
        KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
        KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
        KAFKA_GROUP_MIN_SESSION_TIMEOUT_MS: '3000',
      })
      .withWaitStrategy(Wait.forLogMessage(/Kafka Server started/))
      .start(),
    new GenericContainer('apicurio/apicurio-registry:3.0.9').withExposedPorts(8080).withWaitStrategy(Wait.forHttp('/apis/ccompat/v7/subjects', 8080)).start(),
    new GenericContainer('postgres:18')
      .withExposedPorts(5432)
      .withEnvironment({ POSTGRES_PASSWORD: 'postgres', POSTGRES_DB: 'webhooks' })
      .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
      .start(),
  ]);
  return {
    source: 'testcontainers',
    endpoints: {
      kafkaBrokers: [`127.0.0.1:${kafkaPort}`],
      schemaRegistryUrl: `http://${registry.getHost()}:${registry.getMappedPort(8080)}/apis/ccompat/v7`,
      databaseUrl: `postgres://postgres:postgres@${postgres.getHost()}:${postgres.getMappedPort(5432)}/webhooks`,
    },
    stop: async () => {
      await Promise.all([kafka.stop(), registry.stop(), postgres.stop()]);
    },
  };
}

/**
 * Real services for a test run, from the first source that has them:
 * addresses in the environment, testcontainers where a Docker engine
 * answers, or the local stack (stopped afterwards only if this run started it).
 */
export async function provideServices(log: Log, env: NodeJS.ProcessEnv = process.env): Promise<ProvidedServices> {
  const { KAFKA_BROKERS, SCHEMA_REGISTRY_URL, DATABASE_URL } = env;
  if (KAFKA_BROKERS && SCHEMA_REGISTRY_URL && DATABASE_URL) {
    return {
      source: 'env',
      endpoints: { kafkaBrokers: KAFKA_BROKERS.split(','), schemaRegistryUrl: SCHEMA_REGISTRY_URL, databaseUrl: DATABASE_URL },
      stop: async () => undefined,
    };
  }
  if (env['TEST_SERVICES'] !== 'local-stack' && (await dockerEngineAvailable())) return startContainers(log);
  const { ensureStackUp, stackOptionsFromEnv, stopStack } = await import('../../scripts/stack/index.js');
  const options = stackOptionsFromEnv(env);
  const { endpoints, startedNow } = await ensureStackUp(options, log);
  return {
    source: 'local-stack',
    endpoints,
    stop: async () => {
      if (startedNow) await stopStack(options, log);
    },
  };
}
