import convict from 'convict';
import { createSsrfGuard } from '../connector/delivery/ssrf-guard.js';
import { configSchema, customFormats, type ConnectorConfig } from './schema.js';

export type { ConnectorConfig } from './schema.js';

/** A configuration mistake: names the key, what is wrong, and the env var that sets it. */
export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  readonly retryable = false;
  constructor(readonly problems: string[]) {
    super(`invalid configuration: ${problems.join('; ')}`);
    this.name = 'ConfigError';
  }
}

let formatsRegistered = false;
function registerFormats(): void {
  if (formatsRegistered) return;
  for (const format of customFormats) convict.addFormat(format);
  formatsRegistered = true;
}

interface LeafSpec {
  doc: string;
  env?: string;
  sensitive?: boolean;
  /** Limits beyond the format, checked with the other keys (crossFieldProblems); shown in docs/configuration.md. */
  bounds?: string;
  default: unknown;
  format: unknown;
}

/** Every documented key of the schema with its dotted path. */
export function schemaLeaves(): Array<{ path: string; spec: LeafSpec }> {
  const out: Array<{ path: string; spec: LeafSpec }> = [];
  const walk = (node: Record<string, unknown>, prefix: string): void => {
    for (const [key, value] of Object.entries(node)) {
      const path = prefix ? `${prefix}.${key}` : key;
      if (!value || typeof value !== 'object') continue;
      if ('doc' in value) out.push({ path, spec: value as LeafSpec });
      else walk(value as Record<string, unknown>, path);
    }
  };
  walk(configSchema as unknown as Record<string, unknown>, '');
  return out;
}

/** convict reports one problem a line as `key: message: value was "x"`; add the env var. */
function explain(message: string): string[] {
  const envs = new Map(schemaLeaves().map(({ path, spec }) => [path, spec.env]));
  return message
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .map((line) => {
      const key = line.split(':')[0] ?? '';
      const envVar = envs.get(key);
      return envVar ? `${line} (set ${envVar})` : line;
    });
}

function crossFieldProblems(config: ConnectorConfig): string[] {
  const problems: string[] = [];
  if (config.env === 'production' && config.http.allowPlainHttp) {
    problems.push('http.allowPlainHttp: plain HTTP webhooks are refused in production (set HTTP_ALLOW_PLAIN_HTTP=false or NODE_ENV=development)');
  }
  if (config.env === 'production' && config.admin.verification === 'off') {
    problems.push('admin.verification: webhooks must be verified in production (set ADMIN_WEBHOOK_VERIFICATION=challenge or NODE_ENV=development)');
  }
  const guardOff = ssrfGuardDefeated(config.http.ssrfAllowlist);
  if (config.env === 'production' && guardOff) {
    problems.push(`http.ssrfAllowlist: it allows ${guardOff}, which turns the SSRF guard off; in production list only the ranges webhooks may reach (set HTTP_SSRF_ALLOWLIST or NODE_ENV=development)`);
  }
  // Credentials in clear on the wire, in production: refused as plain-HTTP webhooks are.
  if (config.env === 'production' && config.kafka.sasl.mechanism === 'plain' && !config.kafka.ssl) {
    problems.push('kafka.sasl.mechanism: PLAIN sends the password in clear without TLS; in production set KAFKA_SSL=true, or use scram-sha-256/512 (set KAFKA_SSL or KAFKA_SASL_MECHANISM, or NODE_ENV=development)');
  }
  if (config.env === 'production' && config.schemaRegistry.username !== '' && config.schemaRegistry.url.startsWith('http:')) {
    problems.push('schemaRegistry.url: credentials would go to the registry in clear over http; in production use https (set SCHEMA_REGISTRY_URL, or NODE_ENV=development)');
  }
  if (config.kafka.sasl.mechanism !== '' && config.kafka.sasl.username === '') {
    problems.push('kafka.sasl.username: must be set when kafka.sasl.mechanism is set (set KAFKA_SASL_USERNAME)');
  }
  if (config.deliverer.maxQueuedPerWebhook < 1 || config.deliverer.maxQueuedPerWebhook > config.deliverer.maxBuffered) {
    problems.push('deliverer.maxQueuedPerWebhook: must be between 1 and deliverer.maxBuffered: above it one webhook could fill the buffer all share (set DELIVERER_MAX_QUEUED_PER_WEBHOOK)');
  }
  if (config.deliverer.maxDeferred < 1) {
    problems.push('deliverer.maxDeferred: must be at least 1: with none, a webhook with a full queue would stop reading for all (set DELIVERER_MAX_DEFERRED)');
  }
  if (config.deliverer.httpThreads > MAX_HTTP_THREADS) {
    problems.push(`deliverer.httpThreads: must be at most ${MAX_HTTP_THREADS}: each thread is a V8 instance with its own memory, and more deliverer processes scale further (set DELIVERER_HTTP_THREADS)`);
  }
  if (config.shutdown.timeoutMs < 6000) {
    problems.push('shutdown.timeoutMs: must be at least 6000: deliverers drain for 5 s less than it, at least 1 s, and the stop would be cut short every time (set SHUTDOWN_TIMEOUT_MS)');
  }
  if (config.database.poolSize < 2) {
    problems.push('database.poolSize: must be at least 2: the webhook change listener holds one connection for good, and with none left every query would wait until it timed out (set DATABASE_POOL_SIZE)');
  }
  if (config.database.queryTimeoutMs !== 0 && config.database.queryTimeoutMs < 1000) {
    problems.push('database.queryTimeoutMs: must be 0 (no limit) or at least 1000: a busy Postgres answers ordinary queries slower than that (set DATABASE_QUERY_TIMEOUT_MS)');
  }
  if (config.router.lingerMs > 1000) problems.push('router.lingerMs: must be at most 1000: every event would wait that long (set ROUTER_LINGER_MS)');
  const taskBytes = config.topics.deliveriesMaxMessageBytes;
  if (taskBytes < MIN_TASK_BYTES || taskBytes > MAX_TASK_BYTES) {
    problems.push(`topics.deliveriesMaxMessageBytes: must be between ${MIN_TASK_BYTES} and ${MAX_TASK_BYTES} (four times it must still be a Kafka max.message.bytes) (set TOPIC_DELIVERIES_MAX_MESSAGE_BYTES)`);
  }
  return problems;
}

/** The cloud metadata endpoints: no webhook has reason to reach them, and they hand out credentials. */
const METADATA_ADDRESSES = ['169.254.169.254', 'fd00:ec2::254'];
/** One address of each range the guard refuses: an allow-list letting all of them through lets everything through. */
const GUARDED_SAMPLES = ['127.0.0.1', '10.0.0.1', '172.16.0.1', '192.168.0.1', '100.64.0.1', '::1', 'fc00::1', 'fe80::1'];

/**
 * What an SSRF allow-list opens that defeats the guard, or null: a metadata
 * endpoint, or every range it exists to refuse. Judged by the guard itself,
 * so no way of writing the ranges (0.0.0.0/1 twice, ::ffff:0:0/96) slips by.
 */
export function ssrfGuardDefeated(allowlist: readonly string[]): string | null {
  if (allowlist.length === 0) return null;
  const guard = createSsrfGuard(allowlist);
  const metadata = METADATA_ADDRESSES.find((address) => guard.refusal(address) === null);
  if (metadata) return `the cloud metadata address ${metadata}`;
  return GUARDED_SAMPLES.every((address) => guard.refusal(address) === null) ? 'every private, loopback and link-local range' : null;
}

/** Sending threads per deliverer process, at most. */
const MAX_HTTP_THREADS = 16;

/** Bounds of the task size limit: room for an ordinary event, and four times the limit within Kafka's int32 sizes. */
const MIN_TASK_BYTES = 16 * 1024;
const MAX_TASK_BYTES = 256 * 1024 * 1024;

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/** Edit distance (insertions, deletions, substitutions, swaps of neighbours) of two names, stopping early past `limit`. */
export function nameDistance(a: string, b: string, limit = 2): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  const rows: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j += 1) rows[0]![j] = j;
  for (let i = 1; i <= a.length; i += 1) {
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = best;
    }
  }
  return rows[a.length]![b.length]!;
}

/**
 * How many edits a variable may be from a setting's name and still be taken
 * for it misspelled, by the length of the name after its first word: short
 * ones are a letter or two from other products' variables (KAFKA_URL is two
 * from KAFKA_SSL, SERVER_ROOT one from SERVER_PORT), so they are never
 * guessed at.
 */
export function editsTaken(setting: string): number {
  const rest = setting.length - setting.indexOf('_') - 1;
  return rest >= 10 ? 2 : rest >= 6 ? 1 : 0;
}

/**
 * Variables that look like a setting misspelled (DELIVERER_MAX_INFLIGHT for
 * DELIVERER_MAX_IN_FLIGHT): a few edits from a setting's name (editsTaken)
 * and with its first word. Ignored, such a variable leaves the default in
 * force without a word, which is how a tuning change silently does nothing.
 * Other variables (HTTP_PROXY, KAFKA_URL, PATH) are nobody's business here.
 */
export function misspelledSettings(env: NodeJS.ProcessEnv): string[] {
  const known = schemaLeaves().map(({ spec }) => spec.env).filter((name): name is string => typeof name === 'string');
  const knownSet = new Set(known);
  const problems: string[] = [];
  for (const name of Object.keys(env)) {
    if (knownSet.has(name) || !/^[A-Z][A-Z0-9_]*$/.test(name)) continue;
    const prefix = name.slice(0, name.indexOf('_') + 1);
    if (!prefix) continue;
    const near = known.filter((setting) => setting.startsWith(prefix) && editsTaken(setting) > 0 && nameDistance(name, setting) <= editsTaken(setting));
    if (near.length > 0) problems.push(`${name} is not a setting; did you mean ${near.join(' or ')}? (see docs/configuration.md)`);
  }
  return problems;
}

/**
 * Loads, validates and freezes the configuration. The only reader of the
 * environment in the project: everything else receives the frozen object.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Readonly<ConnectorConfig> {
  registerFormats();
  const config = convict(configSchema, { env, args: [] });
  const misspelled = misspelledSettings(env);
  try {
    config.validate({ allowed: 'strict' });
  } catch (error) {
    throw new ConfigError([...misspelled, ...explain((error as Error).message)]);
  }
  const loaded = config.getProperties() as ConnectorConfig;
  const problems = [...misspelled, ...crossFieldProblems(loaded)];
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(loaded);
}

/** Paths of keys marked sensitive, for log redaction. */
export function sensitiveKeyPaths(): string[] {
  return schemaLeaves()
    .filter(({ spec }) => spec.sensitive === true)
    .map(({ path }) => path);
}
