import { mkdirSync, readdirSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { StackError } from './errors.js';
import { kafkaService } from './kafka.js';
import { endpointsAsEnv, endpointsOf, type Log, type ServiceEndpoints, type StackOptions } from './options.js';
import { postgresService } from './postgres.js';
import { checkJava, checkMaven } from './prerequisites.js';
import { findOurs, isOurs, lastLines, logSize, portFree } from './processes.js';
import { registryService } from './registry.js';
import type { StackService } from './service.js';
import { readState, writeState, type ServiceName, type StackState } from './state.js';

export { endpointsAsEnv, stackOptionsFromEnv, KAFKA_VERSION, APICURIO_VERSION, type Log, type ServiceEndpoints, type StackOptions } from './options.js';
export { StackError } from './errors.js';
export type { ServiceName } from './state.js';

/** How long a service may take to answer after its start (a cold JVM on a busy laptop takes ~10 s). */
export const HEALTH_TIMEOUT_MS = 90_000;

/** Every marker that proves a recorded pid is this service. */
const markersOf = (service: StackService): string[] => [service.marker, ...(service.olderMarkers ?? [])];

function services(options: StackOptions): StackService[] {
  return [kafkaService(options), registryService(options), postgresService(options)];
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

class Aborted extends Error {}

/** Polls until healthy; fails early when the process dies, so a crash is reported with its log, not as a timeout. */
async function waitHealthy(service: StackService, pid: number, options: { timeoutMs: number; logFrom: number; signal?: AbortSignal }): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    if (await service.healthy()) return;
    if (options.signal?.aborted) throw new Aborted();
    if (!isOurs(pid, markersOf(service))) {
      throw new StackError(`${service.name} exited during start-up; see ${service.logFile}:\n${lastLines(service.logFile, options.logFrom)}`);
    }
    if (Date.now() > deadline) {
      throw new StackError(`${service.name} did not become healthy within ${Math.round(options.timeoutMs / 1000)} s; see ${service.logFile}:\n${lastLines(service.logFile, options.logFrom)}`);
    }
    await sleep(250);
  }
}

/** The pid of this service if it runs: the one state.json recorded, or one found by its command line. */
function runningPid(service: StackService, state: StackState): number | undefined {
  const recorded = state.pids[service.name];
  if (isOurs(recorded, markersOf(service))) return recorded;
  return findOurs(service.marker);
}

function record(state: StackState, service: StackService, pid: number | undefined): void {
  state.ports ??= {};
  if (pid === undefined) {
    delete state.pids[service.name];
    delete state.ports[service.name];
  } else {
    state.pids[service.name] = pid;
    state.ports[service.name] = service.ports[0]!.port;
  }
}

export interface StackUp {
  endpoints: ServiceEndpoints;
  /** Whether this call started anything. */
  startedNow: boolean;
  /** What this call started: a caller that tidies up stops these and leaves the rest running. */
  started: ServiceName[];
}

/**
 * Starts whatever part of the stack is not running (all of it in parallel);
 * a no-op when everything runs and is healthy. On failure, stops what this
 * call started and throws a StackError naming the service and its log.
 */
export async function ensureStackUp(options: StackOptions, log: Log, { timeoutMs = HEALTH_TIMEOUT_MS }: { timeoutMs?: number } = {}): Promise<StackUp> {
  mkdirSync(join(options.stateDir, 'logs'), { recursive: true });
  const state = readState(options.stateDir);
  const endpoints = endpointsOf(options);
  const running: Array<{ service: StackService; pid: number }> = [];
  const toStart: StackService[] = [];
  const problems: string[] = [];

  for (const service of services(options)) {
    const pid = runningPid(service, state);
    if (pid !== undefined) {
      const recordedPort = state.ports?.[service.name];
      if (recordedPort !== undefined && recordedPort !== service.ports[0]!.port) {
        problems.push(`${service.name} runs on port ${recordedPort}, not on ${service.ports[0]!.port} as ${service.ports[0]!.env} now says; run "npm run stack:down" first`);
      }
      if (pid !== state.pids[service.name]) log(`found ${service.name} running (pid ${pid}) without a record in state.json; keeping it`);
      record(state, service, pid);
      running.push({ service, pid });
      continue;
    }
    record(state, service, undefined);
    for (const { port, env, what = service.name } of service.ports) {
      if (!(await portFree(port))) problems.push(`port ${port} (${what}) is in use by another process; stop it or set ${env} to a free port`);
    }
    toStart.push(service);
  }
  writeState(options.stateDir, state);
  // All conflicts at once, before anything starts: nothing to undo.
  if (problems.length > 0) throw new StackError(problems.join('; '));

  if (toStart.length === 0) {
    await Promise.all(running.map(({ service, pid }) => waitHealthy(service, pid, { timeoutMs, logFrom: 0 })));
    log('stack already running:');
    for (const line of endpointsAsEnv(endpoints)) log(`  ${line}`);
    return { endpoints, startedNow: false, started: [] };
  }

  if (toStart.some((s) => s.needsJava)) await checkJava();
  if (toStart.some((s) => !s.downloaded())) await checkMaven();
  if (running.length > 0) log(`already running: ${running.map(({ service, pid }) => `${service.name} (pid ${pid})`).join(', ')}`);

  const startedAt = Date.now();
  const abort = new AbortController();
  const started: Array<{ service: StackService; pid: number }> = [];
  const startOne = async (service: StackService): Promise<void> => {
    await service.prepare(log);
    if (abort.signal.aborted) throw new Aborted();
    log(`starting ${service.name} on ${service.address} (log: ${service.logFile})`);
    const logFrom = logSize(service.logFile);
    const pid = await service.start();
    started.push({ service, pid });
    record(state, service, pid);
    writeState(options.stateDir, state);
    await waitHealthy(service, pid, { timeoutMs, logFrom, signal: abort.signal });
    log(`${service.name} is healthy (pid ${pid}, ${((Date.now() - startedAt) / 1000).toFixed(1)} s)`);
  };
  // The first failure stops the others' waiting; allSettled so nothing is still starting when we clean up.
  const results = await Promise.allSettled([
    ...toStart.map((service) =>
      startOne(service).catch((error: unknown) => {
        abort.abort();
        throw error;
      }),
    ),
    ...running.map(({ service, pid }) => waitHealthy(service, pid, { timeoutMs, logFrom: 0, signal: abort.signal })),
  ]);
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected' && !(r.reason instanceof Aborted));
  if (failure) {
    if (started.length > 0) log(`stopping what this run started: ${started.map(({ service }) => service.name).join(', ')}`);
    await Promise.all(started.map(({ service, pid }) => service.stop(pid).catch(() => undefined)));
    for (const { service } of started) record(state, service, undefined);
    writeState(options.stateDir, state);
    const error = failure.reason as Error;
    throw error instanceof StackError ? error : new StackError(error.message);
  }

  log(`stack ready in ${((Date.now() - startedAt) / 1000).toFixed(1)} s:`);
  for (const line of endpointsAsEnv(endpoints)) log(`  ${line}`);
  return { endpoints, startedNow: true, started: started.map(({ service }) => service.name) };
}

/**
 * Stops what `ensureStackUp` started, as recorded in state.json, and nothing
 * else; `only` narrows it to some services. Data is kept unless `clean`.
 */
export async function stopStack(options: StackOptions, log: Log, { clean = false, only }: { clean?: boolean; only?: ServiceName[] } = {}): Promise<void> {
  const state = readState(options.stateDir);
  const targets = services(options).filter((s) => !only || only.includes(s.name));
  let stopped = 0;
  const stillRunning: string[] = [];
  // In parallel: Kafka's controlled shutdown is the slow one, the others need not wait for it.
  await Promise.all(
    targets.map(async (service) => {
      const pid = state.pids[service.name];
      if (isOurs(pid, markersOf(service))) {
        log(`stopping ${service.name} (pid ${pid})`);
        await service.stop(pid!).catch(() => undefined);
        if (isOurs(pid, markersOf(service))) {
          stillRunning.push(`${service.name} (pid ${pid}; see ${service.logFile})`);
          return;
        }
        stopped++;
      }
      record(state, service, undefined);
    }),
  );
  writeState(options.stateDir, state);
  if (stillRunning.length > 0) throw new StackError(`did not stop: ${stillRunning.join(', ')}`);
  if (stopped === 0) log('nothing of the stack was running');
  if (clean) {
    cleanStateDir(options.stateDir, services(options));
    log(`deleted the stack's data and logs in ${options.stateDir}`);
  } else if (stopped > 0) {
    log('stopped (data kept; `down --clean` also deletes it)');
  }
}

/**
 * Deletes only what the stack itself put in STACK_DIR (never the folder's
 * other contents: STACK_DIR may point anywhere), then the folder if empty.
 */
function cleanStateDir(stateDir: string, all: StackService[]): void {
  const running = all.filter((s) => findOurs(s.marker) !== undefined).map((s) => s.name);
  if (running.length > 0) throw new StackError(`not deleting the data: ${running.join(', ')} still running outside state.json's record; stop it first`);
  // The encryption key (stack:env) goes with the data it encrypted.
  for (const entry of ['kafka', 'registry', 'postgres', 'logs', 'state.json', 'secrets-encryption-key']) rmSync(join(stateDir, entry), { recursive: true, force: true });
  try {
    if (readdirSync(stateDir).length === 0) rmdirSync(stateDir);
  } catch {
    // Already gone, or not ours to remove.
  }
}

export interface ServiceStatus {
  name: ServiceName;
  running: boolean;
  pid: number | null;
  address: string;
  healthy: boolean;
  logFile: string;
}

/** Each service: running (ours, alive), pid, address, healthy. Changes nothing. */
export async function stackStatus(options: StackOptions): Promise<ServiceStatus[]> {
  const state = readState(options.stateDir);
  return Promise.all(
    services(options).map(async (service) => {
      const pid = runningPid(service, state) ?? null;
      return { name: service.name, running: pid !== null, pid, address: service.address, healthy: pid !== null && (await service.healthy()), logFile: service.logFile };
    }),
  );
}
