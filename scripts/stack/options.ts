import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StackError } from './errors.js';

export const KAFKA_VERSION = '3.9.1';
export const APICURIO_VERSION = '3.0.9';

export interface StackOptions {
  /** Data, logs and pids of this clone's stack. */
  stateDir: string;
  /** Downloads, shared by every clone on the machine (so it lives outside the repo). */
  cacheDir: string;
  kafkaPort: number;
  kafkaControllerPort: number;
  registryPort: number;
  postgresPort: number;
}

/** Where the connector finds its services: the values of KAFKA_BROKERS, SCHEMA_REGISTRY_URL and DATABASE_URL. */
export interface ServiceEndpoints {
  kafkaBrokers: string[];
  schemaRegistryUrl: string;
  databaseUrl: string;
}

/** Progress goes wherever the caller wants: the terminal, vitest's output, nowhere. */
export type Log = (line: string) => void;

const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

function port(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > 65535) throw new StackError(`${name} must be a port number (1-65535); got "${raw}"`);
  return value;
}

/** The stack's only reader of the environment. */
export function stackOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): StackOptions {
  const cacheBase = env['XDG_CACHE_HOME'] || join(homedir(), '.cache');
  const options: StackOptions = {
    stateDir: resolve(env['STACK_DIR'] || join(REPO_ROOT, '.stack')),
    cacheDir: resolve(env['STACK_CACHE_DIR'] || join(cacheBase, 'identity-webhooks-stack')),
    kafkaPort: port(env, 'STACK_KAFKA_PORT', 19092),
    kafkaControllerPort: port(env, 'STACK_KAFKA_CONTROLLER_PORT', 19093),
    registryPort: port(env, 'STACK_REGISTRY_PORT', 18081),
    postgresPort: port(env, 'STACK_POSTGRES_PORT', 15432),
  };
  // Two services on one port would fail later with a confusing bind error; say it now.
  const ports = [options.kafkaPort, options.kafkaControllerPort, options.registryPort, options.postgresPort];
  if (new Set(ports).size !== ports.length) {
    throw new StackError(
      `STACK_KAFKA_PORT, STACK_KAFKA_CONTROLLER_PORT, STACK_REGISTRY_PORT and STACK_POSTGRES_PORT must differ; got ${ports.join(', ')}`,
    );
  }
  return options;
}

export function endpointsOf(options: StackOptions): ServiceEndpoints {
  return {
    kafkaBrokers: [`127.0.0.1:${options.kafkaPort}`],
    schemaRegistryUrl: `http://127.0.0.1:${options.registryPort}/apis/ccompat/v7`,
    databaseUrl: `postgres://postgres:postgres@127.0.0.1:${options.postgresPort}/webhooks`,
  };
}

/** The endpoints as the connector's variables, one `NAME=value` per line, ready to paste or `export`. */
export function endpointsAsEnv(endpoints: ServiceEndpoints): string[] {
  return [
    `KAFKA_BROKERS=${endpoints.kafkaBrokers.join(',')}`,
    `SCHEMA_REGISTRY_URL=${endpoints.schemaRegistryUrl}`,
    `DATABASE_URL=${endpoints.databaseUrl}`,
  ];
}

/**
 * Everything the connector, the admin API and the event tool need to run by
 * hand against the local stack: its addresses, one replica per topic (one
 * broker), development mode (plain HTTP and the loopback receivers the demo
 * uses), and an encryption key kept in the stack's directory, so secrets
 * written by one run decrypt in the next. The demo runs with it; `stack:env`
 * prints it for `eval` (see exportLines).
 */
export function developmentEnv(endpoints: ServiceEndpoints, encryptionKey: string): Record<string, string> {
  return {
    KAFKA_BROKERS: endpoints.kafkaBrokers.join(','),
    SCHEMA_REGISTRY_URL: endpoints.schemaRegistryUrl,
    DATABASE_URL: endpoints.databaseUrl,
    NODE_ENV: 'development',
    TOPIC_REPLICATION_FACTOR: '1',
    HTTP_ALLOW_PLAIN_HTTP: 'true',
    HTTP_SSRF_ALLOWLIST: '127.0.0.1',
    SECRETS_ENCRYPTION_KEY: encryptionKey,
  };
}

/** Variables as `export NAME='value'` lines, for a shell's `eval`. */
export function exportLines(env: Record<string, string>): string[] {
  return Object.entries(env).map(([name, value]) => `export ${name}='${value}'`);
}

/**
 * The key the stack's data is encrypted with, for every process run against
 * it (stack:env, the demo): made once, kept with the data (down --clean
 * deletes both). A stack whose demo made a key of its own before keeps that
 * one, as its webhooks' secrets were written with it.
 */
export function stackEncryptionKey(stateDir: string): string {
  const file = join(stateDir, 'secrets-encryption-key');
  if (!existsSync(file)) {
    const demoKey = join(stateDir, 'demo', 'secrets-encryption-key');
    mkdirSync(stateDir, { recursive: true });
    writeFileSync(file, existsSync(demoKey) ? readFileSync(demoKey, 'utf8').trim() : randomBytes(32).toString('base64'), { mode: 0o600 });
  }
  return readFileSync(file, 'utf8').trim();
}
