import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { StackError } from './errors.js';
import { kafkaService } from './kafka.js';
import { endpointsOf, type Log, type ServiceEndpoints, type StackOptions } from './options.js';
import { postgresService } from './postgres.js';
import { isOurs, lastLines, portInUse, run } from './processes.js';
import { registryService } from './registry.js';
import type { StackService } from './service.js';
import { readState, writeState } from './state.js';

export { stackOptionsFromEnv, type ServiceEndpoints, type StackOptions } from './options.js';
export { StackError } from './errors.js';

const HEALTH_TIMEOUT_MS = 120_000;


function services(options: StackOptions): StackService[] {
  return [kafkaService(options), registryService(options), postgresService(options)];
}

function checkPrerequisites(): void {
  let output: string;
  try {
    output = run('sh', ['-c', 'java -version 2>&1'], { what: 'java -version' });
  } catch {
    throw new StackError('Java 17 or newer is required on the PATH (Kafka and the schema registry run on the JVM)');
  }
  const major = Number(/version "(\d+)/.exec(output)?.[1] ?? '0');
  if (major < 17) throw new StackError(`Java 17 or newer is required; found ${major || 'an unknown version'}`);
  try {
    run('mvn', ['-v'], { what: 'mvn -v' });
  } catch {
    throw new StackError('Maven is required on the PATH: the stack downloads Kafka and Apicurio Registry from Maven Central');
  }
}

async function waitHealthy(service: StackService, pid: number): Promise<void> {
  const deadline = Date.now() + HEALTH_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (await service.healthy()) return;
    if (service.name !== 'postgres' && !isOurs(pid, service.marker)) {
      throw new StackError(`${service.name} exited during start-up; see ${service.logFile}:\n    ${lastLines(service.logFile)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new StackError(`${service.name} did not become healthy within ${HEALTH_TIMEOUT_MS / 1000} s; see ${service.logFile}:\n    ${lastLines(service.logFile)}`);
}

/**
 * Starts whatever part of the stack is not running; a no-op when all of it
 * is. On failure, stops what this call started and throws a StackError.
 */
export async function ensureStackUp(options: StackOptions, log: Log): Promise<{ endpoints: ServiceEndpoints; startedNow: boolean }> {
  mkdirSync(join(options.stateDir, 'logs'), { recursive: true });
  const state = readState(options.stateDir);
  const toStart: StackService[] = [];
  for (const service of services(options)) {
    const pid = state.pids[service.name];
    if (isOurs(pid, service.marker)) {
      await waitHealthy(service, pid!);
      continue;
    }
    delete state.pids[service.name];
    if (await portInUse(service.port)) {
      throw new StackError(`port ${service.port} (${service.name}) is in use by another process; stop it or set ${service.portEnv} to a free port`);
    }
    toStart.push(service);
  }
  const endpoints = endpointsOf(options);
  if (toStart.length === 0) {
    log(`stack already running: KAFKA_BROKERS=${endpoints.kafkaBrokers.join(',')} SCHEMA_REGISTRY_URL=${endpoints.schemaRegistryUrl} DATABASE_URL=${endpoints.databaseUrl}`);
    return { endpoints, startedNow: false };
  }

  checkPrerequisites();
  const started: Array<[StackService, number]> = [];
  try {
    for (const service of toStart) service.prepare(log);
    for (const service of toStart) {
      log(`starting ${service.name} on ${service.address} (log: ${service.logFile})`);
      const pid = service.start();
      started.push([service, pid]);
      state.pids[service.name] = pid;
      writeState(options.stateDir, state);
    }
    await Promise.all(started.map(([service, pid]) => waitHealthy(service, pid).then(() => log(`${service.name} is healthy`))));
  } catch (error) {
    for (const [service, pid] of started) {
      await service.stop(pid).catch(() => undefined);
      delete state.pids[service.name];
    }
    writeState(options.stateDir, state);
    throw error instanceof StackError ? error : new StackError((error as Error).message);
  }
  log(`stack ready: KAFKA_BROKERS=${endpoints.kafkaBrokers.join(',')} SCHEMA_REGISTRY_URL=${endpoints.schemaRegistryUrl} DATABASE_URL=${endpoints.databaseUrl}`);
  return { endpoints, startedNow: true };
}

/** Stops what `ensureStackUp` started and nothing else; `clean` also deletes the data. */
export async function stopStack(options: StackOptions, log: Log, { clean = false } = {}): Promise<void> {
  const state = readState(options.stateDir);
  for (const service of services(options).reverse()) {
    const pid = state.pids[service.name];
    if (isOurs(pid, service.marker)) {
      log(`stopping ${service.name} (pid ${pid})`);
      await service.stop(pid!);
    }
    delete state.pids[service.name];
  }
  writeState(options.stateDir, state);
  if (clean) {
    rmSync(options.stateDir, { recursive: true, force: true });
    log(`deleted ${options.stateDir}`);
  }
}

export interface ServiceStatus {
  name: string;
  running: boolean;
  pid: number | null;
  address: string;
  healthy: boolean;
}

export async function stackStatus(options: StackOptions): Promise<ServiceStatus[]> {
  const state = readState(options.stateDir);
  return Promise.all(
    services(options).map(async (service) => {
      const pid = state.pids[service.name] ?? null;
      const running = isOurs(pid ?? undefined, service.marker);
      return { name: service.name, running, pid: running ? pid : null, address: service.address, healthy: running && (await service.healthy()) };
    }),
  );
}
