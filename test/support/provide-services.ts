import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ContainerRuntimeClient, GenericContainer as GenericContainerClass, StartedTestContainer, Wait as WaitStrategies } from 'testcontainers';
import type { ServiceEndpoints } from '../../scripts/stack/options.js';
import { waitFor } from './wait.js';

export type { ServiceEndpoints } from '../../scripts/stack/options.js';

export interface ProvidedServices {
  endpoints: ServiceEndpoints;
  source: 'env' | 'testcontainers' | 'local-stack';
  /** Stops what this call started, and only that. */
  stop(): Promise<void>;
}

type Log = (line: string) => void;

// The same images and versions as docker-compose.yml and the local stack.
const KAFKA_IMAGE = 'apache/kafka:3.9.1';
const REGISTRY_IMAGE = 'apicurio/apicurio-registry:3.0.9';
const POSTGRES_IMAGE = 'postgres:18';
const CONTAINER_START_TIMEOUT_MS = 180_000;

/**
 * The container runtime, if a Docker engine answers. testcontainers tries
 * every way to reach one (DOCKER_HOST, docker contexts, sockets) and gives up
 * in under a second where there is only the docker client; the timeout is for
 * a DOCKER_HOST that does not answer at all.
 */
async function dockerEngine(): Promise<ContainerRuntimeClient | undefined> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('no answer within 5 s')), 5000);
    });
    try {
      return await Promise.race([getContainerRuntimeClient(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  } catch {
    return undefined;
  }
}

/** One KRaft Kafka node advertising `host:port`, the port it is mapped to on the host (chosen before it starts). */
function kafkaContainer(GenericContainer: typeof GenericContainerClass, Wait: typeof WaitStrategies, host: string, port: number): GenericContainerClass {
  return new GenericContainer(KAFKA_IMAGE)
    .withExposedPorts({ container: 9092, host: port })
    .withEnvironment({
      KAFKA_NODE_ID: '1',
      KAFKA_PROCESS_ROLES: 'broker,controller',
      KAFKA_LISTENERS: 'PLAINTEXT://:9092,CONTROLLER://:9093',
      KAFKA_ADVERTISED_LISTENERS: `PLAINTEXT://${host}:${port}`,
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
    .withStartupTimeout(CONTAINER_START_TIMEOUT_MS);
}

/** Kafka (KRaft, one node), Apicurio Registry and Postgres as containers, for machines with Docker. */
async function startContainers(runtime: ContainerRuntimeClient, log: Log): Promise<ProvidedServices> {
  const { GenericContainer, RandomPortGenerator, Wait } = await import('testcontainers');
  // Kafka hands clients the address it advertises, so that must be the one the
  // host sees: a host port chosen before the container starts.
  const host = runtime.info.containerRuntime.host;
  const kafkaPort = await new RandomPortGenerator().generatePort();
  log(`starting containers: ${KAFKA_IMAGE}, ${REGISTRY_IMAGE}, ${POSTGRES_IMAGE}`);
  const results = await Promise.allSettled([
    kafkaContainer(GenericContainer, Wait, host, kafkaPort).start(),
    new GenericContainer(REGISTRY_IMAGE)
      .withExposedPorts(8080)
      .withWaitStrategy(Wait.forHttp('/apis/ccompat/v7/subjects', 8080).forStatusCode(200))
      .withStartupTimeout(CONTAINER_START_TIMEOUT_MS)
      .start(),
    new GenericContainer(POSTGRES_IMAGE)
      .withExposedPorts(5432)
      .withEnvironment({ POSTGRES_PASSWORD: 'postgres', POSTGRES_DB: 'webhooks' })
      // The image's entrypoint starts Postgres twice (init, then for real): the second "ready" counts.
      .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
      .withStartupTimeout(CONTAINER_START_TIMEOUT_MS)
      .start(),
  ]);
  const started = results.filter((r): r is PromiseFulfilledResult<StartedTestContainer> => r.status === 'fulfilled').map((r) => r.value);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  const [kafka, registry, postgres] = results.map((r) => (r.status === 'fulfilled' ? r.value : undefined));
  if (failed || !kafka || !registry || !postgres) {
    // One did not start: the others must not outlive the run.
    await Promise.allSettled(started.map((c) => c.stop()));
    throw failed?.reason instanceof Error ? failed.reason : new Error('a service container did not start');
  }
  return {
    source: 'testcontainers',
    endpoints: {
      kafkaBrokers: [`${host}:${kafkaPort}`],
      schemaRegistryUrl: `http://${registry.getHost()}:${registry.getMappedPort(8080)}/apis/ccompat/v7`,
      databaseUrl: `postgres://postgres:postgres@${postgres.getHost()}:${postgres.getMappedPort(5432)}/webhooks`,
    },
    stop: async () => {
      await Promise.allSettled([kafka.stop(), registry.stop(), postgres.stop()]);
    },
  };
}

/**
 * Real services for a test run, from the first source that has them:
 * 1. KAFKA_BROKERS, SCHEMA_REGISTRY_URL and DATABASE_URL all set: used as they are;
 * 2. a Docker engine answers: containers, removed afterwards;
 * 3. the local stack (scripts/stack): started if needed; afterwards only what
 *    this call started is stopped, so a developer's running stack is left alone.
 * TEST_SERVICES=local-stack or =testcontainers skips the choice between 2 and 3.
 */
export async function provideServices(log: Log, env: NodeJS.ProcessEnv = process.env): Promise<ProvidedServices> {
  const { KAFKA_BROKERS, SCHEMA_REGISTRY_URL, DATABASE_URL } = env;
  if (KAFKA_BROKERS && SCHEMA_REGISTRY_URL && DATABASE_URL) {
    return {
      source: 'env',
      endpoints: { kafkaBrokers: KAFKA_BROKERS.split(',').map((b) => b.trim()), schemaRegistryUrl: SCHEMA_REGISTRY_URL, databaseUrl: DATABASE_URL },
      stop: async () => undefined,
    };
  }
  const choice = env['TEST_SERVICES'];
  if (choice !== 'local-stack') {
    const runtime = await dockerEngine();
    if (runtime) return startContainers(runtime, log);
    if (choice === 'testcontainers') throw new Error('TEST_SERVICES=testcontainers, but no Docker engine answers');
  }
  // Loaded only here: the other two sources need none of the stack's code.
  const { ensureStackUp, stackOptionsFromEnv, stopStack } = await import('../../scripts/stack/index.js');
  const options = stackOptionsFromEnv(env);
  const { endpoints, started } = await ensureStackUp(options, log);
  return {
    source: 'local-stack',
    endpoints,
    stop: async () => {
      if (started.length > 0) await stopStack(options, log, { only: started });
    },
  };
}

/** A Kafka broker of one test's own, which the test may restart; see startOwnKafka. */
export interface OwnKafka {
  brokers: string[];
  /** Stops the broker (its data stays), keeps it down for `downForMs`, then starts it again and waits until it answers. */
  restart(downForMs?: number): Promise<void>;
  /** Stops it and removes its data. */
  close(): Promise<void>;
}

/** A free TCP port on 127.0.0.1, found by listening on port 0. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1' }, () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * A broker for fault tests that restart it: restarting the broker every
 * other test shares would put the rest of the run at risk. Where a Docker
 * engine answers (as provideServices decides), a container with a fixed host
 * port, which a restart keeps; otherwise a KRaft node from the local stack's
 * Kafka jars, in a folder of its own.
 */
export async function startOwnKafka(log: Log, env: NodeJS.ProcessEnv = process.env): Promise<OwnKafka> {
  const runtime = env['TEST_SERVICES'] === 'local-stack' ? undefined : await dockerEngine();
  if (runtime) {
    const { GenericContainer, RandomPortGenerator, Wait } = await import('testcontainers');
    const host = runtime.info.containerRuntime.host;
    const port = await new RandomPortGenerator().generatePort();
    const container = await kafkaContainer(GenericContainer, Wait, host, port).start();
    return {
      brokers: [`${host}:${port}`],
      restart: async (downForMs = 0) => {
        // Stopped and started by the runtime itself: the container, its data and its port mapping stay.
        const handle = runtime.container.getById(container.getId());
        await runtime.container.stop(handle, { timeout: 10 });
        await pause(downForMs);
        await runtime.container.start(handle);
        await waitUntilHealthy([`${host}:${port}`]);
      },
      close: async () => void (await container.stop()),
    };
  }
  const { kafkaService } = await import('../../scripts/stack/kafka.js');
  const { stackOptionsFromEnv } = await import('../../scripts/stack/options.js');
  const stateDir = mkdtempSync(join(tmpdir(), 'own-kafka-'));
  mkdirSync(join(stateDir, 'logs'));
  const kafka = kafkaService({ ...stackOptionsFromEnv(env), stateDir, kafkaPort: await freePort(), kafkaControllerPort: await freePort() });
  await kafka.prepare(log);
  const brokers = [kafka.address];
  let pid = await kafka.start();
  await waitUntilHealthy(brokers);
  return {
    brokers,
    restart: async (downForMs = 0) => {
      await kafka.stop(pid);
      await pause(downForMs);
      pid = await kafka.start();
      await waitUntilHealthy(brokers);
    },
    close: async () => {
      await kafka.stop(pid);
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

async function waitUntilHealthy(brokers: string[]): Promise<void> {
  const { kafkaHealthy } = await import('../../scripts/stack/health.js');
  await waitFor(`Kafka at ${brokers.join(',')} to answer`, () => kafkaHealthy(brokers), 120_000, 250);
}

/** An outage of a chosen length is the scenario, not a wait for a condition. */
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
