import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, nameDistance } from '../../config/load.js';
import { connectorTopics, limitShortfalls, retiredTierLabels } from '../../connector/kafka/topics.js';
import { createSecretBox, secretPlace } from '../../connector/security/encryption.js';

const KEY = randomBytes(32).toString('base64');
const problemsOf = (env: Record<string, string>): string[] => {
  try {
    loadConfig({ SECRETS_ENCRYPTION_KEY: KEY, ...env });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
};

describe('loadConfig', () => {
  it('loads defaults, parses lists and freezes the result', () => {
    const config = loadConfig({ SECRETS_ENCRYPTION_KEY: KEY, KAFKA_BROKERS: 'a:9092, b:9093', HTTP_SSRF_ALLOWLIST: '127.0.0.1,10.0.0.0/8' });
    expect(config.kafka.brokers).toEqual(['a:9092', 'b:9093']);
    expect(config.http.ssrfAllowlist).toEqual(['127.0.0.1', '10.0.0.0/8']);
    expect(config.topics.deliveries).toBe('webhooks.deliveries');
    expect(Object.isFrozen(config.kafka)).toBe(true);
    expect(() => {
      (config.kafka as { clientId: string }).clientId = 'x';
    }).toThrow();
  });

  it('names the key, the problem and the env var for a bad value', () => {
    const [problem] = problemsOf({ KAFKA_BROKERS: 'no-port' });
    expect(problem).toContain('kafka.brokers');
    expect(problem).toContain('"no-port" is not');
    expect(problem).toContain('set KAFKA_BROKERS');
  });

  it('stops on a variable that looks like a setting misspelled, naming the setting meant, and ignores other variables', () => {
    expect(problemsOf({ DELIVERER_MAX_INFLIGHT: '128' })).toEqual(['DELIVERER_MAX_INFLIGHT is not a setting; did you mean DELIVERER_MAX_IN_FLIGHT? (see docs/configuration.md)']);
    expect(problemsOf({ KAFKA_BROKER: 'kafka:9092' })).toEqual(['KAFKA_BROKER is not a setting; did you mean KAFKA_BROKERS? (see docs/configuration.md)']);
    expect(problemsOf({ ROUTER_LIGNER_MS: '5' })[0]).toMatch(/did you mean ROUTER_LINGER_MS\?/);
    // Alongside a bad value, both are said at once.
    expect(problemsOf({ KAFKA_BROKER: 'kafka:9092', KAFKA_BROKERS: 'no-port' })).toHaveLength(2);
    // Other products' variables a letter or two from a short setting name (Heroku sets KAFKA_URL) are left alone.
    for (const unrelated of ['HTTP_PROXY', 'HTTPS_PROXY', 'KAFKA_OPTS', 'KAFKA_HEAP_OPTS', 'KAFKA_HOME', 'KAFKA_URL', 'KAFKA_SASL', 'DATABASE_SSL', 'DATABASE_URL2', 'SERVER_ROOT', 'KAFKA_PORT', 'NODE_OPTIONS', 'PATH', 'LOG_FILE', 'SERVER_HOSTNAME', 'DATABASE_URL_REPLICA', 'lowercase_var']) {
      expect(problemsOf({ [unrelated]: 'x' }), unrelated).toEqual([]);
    }
    expect(nameDistance('DELIVERER_MAX_INFLIGHT', 'DELIVERER_MAX_IN_FLIGHT')).toBe(1);
    expect(nameDistance('ROUTER_LIGNER_MS', 'ROUTER_LINGER_MS')).toBe(1);
    expect(nameDistance('KAFKA_OPTS', 'KAFKA_SSL')).toBeGreaterThan(2);
  });

  it('requires the encryption key and does not echo secrets', () => {
    const problems = problemsOf({ SECRETS_ENCRYPTION_KEY: 'c2hvcnQ=' });
    expect(problems.join('\n')).toContain('secrets.encryptionKey');
    expect(problems.join('\n')).not.toContain('c2hvcnQ=');
  });

  it('takes only a random key in standard base64: not a passphrase that happens to decode to 32 bytes, nor a placeholder', () => {
    const passphrase = 'CorrectHorseBatteryStapleAndThenSomeMoreXYZ';
    expect(Buffer.from(passphrase, 'base64')).toHaveLength(32);
    const [notBase64] = problemsOf({ SECRETS_ENCRYPTION_KEY: passphrase });
    expect(notBase64).toMatch(/secrets\.encryptionKey.*is not 32 bytes in base64: .*a passphrase is not a key/);
    expect(notBase64).not.toContain('Horse');
    expect(problemsOf({ SECRETS_ENCRYPTION_KEY: Buffer.alloc(32).toString('base64') }).join()).toMatch(/must be 32 random bytes/);
    expect(problemsOf({ SECRETS_ENCRYPTION_KEY: Buffer.from('0123456789'.repeat(4).slice(0, 32)).toString('base64') }).join()).toMatch(/must be 32 random bytes/);
    expect(problemsOf({ SECRETS_ENCRYPTION_KEY: KEY })).toEqual([]);
  });

  it('takes the same 32 bytes however they are faithfully written, and they decrypt what the standard form encrypted', () => {
    const bytes = randomBytes(32);
    const standard = bytes.toString('base64');
    const place = secretPlace.signingSecret('w');
    const stored = createSecretBox(standard).encrypt('whsec_kept', place);
    for (const written of [`${standard}\n`, standard.replace(/=+$/, ''), bytes.toString('base64url'), ` ${standard} `]) {
      const config = loadConfig({ SECRETS_ENCRYPTION_KEY: written });
      expect(createSecretBox(config.secrets.encryptionKey).decrypt(stored, place), JSON.stringify(written)).toBe('whsec_kept');
    }
  });

  it('refuses an SSRF allow-list that turns the guard off in production, however it is written, and takes ranges', () => {
    // fc00::/7 holds AWS's IPv6 metadata address.
    for (const list of ['0.0.0.0/0', '10.0.0.0/8, ::/0', '0.0.0.0/1,128.0.0.0/1', '::ffff:0:0/96', '169.254.0.0/16', '169.254.169.254', 'fc00::/7']) {
      expect(problemsOf({ HTTP_SSRF_ALLOWLIST: list }).join(), list).toMatch(/http\.ssrfAllowlist: it allows .*, which turns the SSRF guard off/);
      expect(problemsOf({ HTTP_SSRF_ALLOWLIST: list, NODE_ENV: 'development' }), list).toEqual([]);
    }
    expect(problemsOf({ HTTP_SSRF_ALLOWLIST: '10.0.0.0/8,192.168.1.10,fd12:3456::/32' })).toEqual([]);
  });

  it('refuses infrastructure credentials in clear in production: SASL PLAIN without TLS, a registry password over http', () => {
    const plain = { KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'router', KAFKA_SASL_PASSWORD: 'pw' };
    expect(problemsOf(plain).join()).toMatch(/kafka\.sasl\.mechanism: PLAIN sends the password in clear without TLS/);
    expect(problemsOf({ ...plain, KAFKA_SSL: 'true' })).toEqual([]);
    expect(problemsOf({ ...plain, KAFKA_SASL_MECHANISM: 'scram-sha-512' })).toEqual([]);
    expect(problemsOf({ ...plain, NODE_ENV: 'development' })).toEqual([]);
    const registry = { SCHEMA_REGISTRY_URL: 'http://registry:8081', SCHEMA_REGISTRY_USERNAME: 'router', SCHEMA_REGISTRY_PASSWORD: 'pw' };
    expect(problemsOf(registry).join()).toMatch(/schemaRegistry\.url: credentials would go to the registry in clear/);
    expect(problemsOf({ ...registry, SCHEMA_REGISTRY_URL: 'https://registry:8081' })).toEqual([]);
    expect(problemsOf({ SCHEMA_REGISTRY_URL: 'http://registry:8081' })).toEqual([]);
  });

  it('refuses plain HTTP webhooks in production but allows them in development', () => {
    expect(problemsOf({ HTTP_ALLOW_PLAIN_HTTP: 'true' }).join()).toContain('http.allowPlainHttp');
    expect(problemsOf({ HTTP_ALLOW_PLAIN_HTTP: 'true', NODE_ENV: 'development' })).toEqual([]);
  });

  it('rejects malformed CIDR ranges and unknown enum values', () => {
    expect(problemsOf({ HTTP_SSRF_ALLOWLIST: '10.0.0.0/99' }).join()).toContain('http.ssrfAllowlist');
    expect(problemsOf({ LOG_LEVEL: 'loud' }).join()).toContain('set LOG_LEVEL');
  });

  it('bounds the task size limit, naming the key and the env var', () => {
    expect(problemsOf({ TOPIC_DELIVERIES_MAX_MESSAGE_BYTES: '1000' }).join()).toMatch(/topics\.deliveriesMaxMessageBytes: must be between .*set TOPIC_DELIVERIES_MAX_MESSAGE_BYTES/);
    expect(problemsOf({ TOPIC_DELIVERIES_MAX_MESSAGE_BYTES: String(2 ** 30) }).join()).toContain('topics.deliveriesMaxMessageBytes');
    expect(problemsOf({ TOPIC_DELIVERIES_MAX_MESSAGE_BYTES: '2097152' })).toEqual([]);
  });

  it('reads numbers and flags strictly: what is not one stops start-up rather than being read as something else', () => {
    // Read with parseInt, these were 1, 1 and 80; read as "anything but false", these turned TLS on.
    for (const [env, value] of [['DELIVERER_MAX_IN_FLIGHT', '1e3'], ['DELIVERER_MAX_IN_FLIGHT', '1.5'], ['SERVER_PORT', '80abc'], ['KAFKA_SSL', 'no'], ['KAFKA_SSL', 'off'], ['KAFKA_SSL', '']] as const) {
      expect(problemsOf({ [env]: value }).join(), `${env}=${value}`).toContain(`set ${env}`);
    }
    expect(loadConfig({ SECRETS_ENCRYPTION_KEY: KEY, KAFKA_SSL: '0', DELIVERER_MAX_IN_FLIGHT: ' 32 ' })).toMatchObject({ kafka: { ssl: false }, deliverer: { maxInFlight: 32 } });
    expect(loadConfig({ SECRETS_ENCRYPTION_KEY: KEY, KAFKA_SSL: 'TRUE' }).kafka.ssl).toBe(true);
  });

  it('names the entry of a delay list that is not whole milliseconds, and refuses an empty jitter rather than reading it as none', () => {
    expect(problemsOf({ DELIVERER_RETRY_DELAYS_MS: '5s,5m' }).join()).toMatch(/delays are positive whole milliseconds; "5s" is not \(5s is written 5000\).*set DELIVERER_RETRY_DELAYS_MS/);
    expect(problemsOf({ DELIVERER_RETRY_DELAYS_MS: '5000,,10000' }).join()).toMatch(/an entry is empty \(two commas in a row\?\)/);
    // Longer, with jitter, a task could outlive its retry topic's records; and a timer cannot wait past 24.8 days.
    expect(problemsOf({ DELIVERER_RETRY_DELAYS_MS: '5000,2592000000' }).join()).toMatch(/a delay of 2592000000 ms is longer than 3 days.*set DELIVERER_RETRY_DELAYS_MS/);
    expect(problemsOf({ DELIVERER_MAX_RETRY_AFTER_MS: '2592000000' }).join()).toMatch(/must be at most 3 days.*set DELIVERER_MAX_RETRY_AFTER_MS/);
    expect(loadConfig({ SECRETS_ENCRYPTION_KEY: KEY, DELIVERER_RETRY_DELAYS_MS: '259200000', DELIVERER_MAX_RETRY_AFTER_MS: '259200000' }).deliverer.retryDelaysMs).toEqual([259_200_000]);
    expect(loadConfig({ SECRETS_ENCRYPTION_KEY: KEY, DELIVERER_RETRY_DELAYS_MS: ' 5000, 60000 ' }).deliverer.retryDelaysMs).toEqual([5000, 60000]);
    for (const jitter of ['', 'ten percent', '1', '-0.1']) {
      expect(problemsOf({ DELIVERER_RETRY_JITTER: jitter }).join(), `jitter "${jitter}"`).toMatch(/from 0 up to \(not including\) 1.*set DELIVERER_RETRY_JITTER/);
    }
    expect(loadConfig({ SECRETS_ENCRYPTION_KEY: KEY, DELIVERER_RETRY_JITTER: '.25' }).deliverer.retryJitter).toBe(0.25);
    expect(loadConfig({ SECRETS_ENCRYPTION_KEY: KEY, DELIVERER_RETRY_JITTER: '0' }).deliverer.retryJitter).toBe(0);
  });

  it('refuses 0 where nothing would work with it: no slots, no time to shut down, no page', () => {
    for (const env of ['DELIVERER_MAX_IN_FLIGHT', 'SHUTDOWN_TIMEOUT_MS', 'ADMIN_MAX_PAGE_SIZE', 'HTTP_REQUEST_TIMEOUT_MS', 'DATABASE_POOL_SIZE']) {
      expect(problemsOf({ [env]: '0' }).join(), env).toMatch(new RegExp(`must be a whole number(?: of milliseconds)?, 1 (?:or more|to).*set ${env}`));
    }
    expect(problemsOf({ SHUTDOWN_TIMEOUT_MS: '5000' }).join()).toMatch(/shutdown\.timeoutMs: must be at least 6000.*set SHUTDOWN_TIMEOUT_MS/);
    // Where 0 means something (no linger, no sending thread, no cache), it stays allowed.
    expect(problemsOf({ ROUTER_LINGER_MS: '0', DELIVERER_HTTP_THREADS: '0', DELIVERER_TARGET_CACHE_TTL_MS: '0' })).toEqual([]);
  });

  it('refuses a wait longer than a timer keeps (about 24.8 days), which would end at once, naming the key', () => {
    for (const env of ['SHUTDOWN_TIMEOUT_MS', 'HTTP_REQUEST_TIMEOUT_MS', 'KAFKA_SESSION_TIMEOUT_MS', 'DELIVERER_BREAKER_OPEN_MS', 'DATABASE_QUERY_TIMEOUT_MS']) {
      const problems = problemsOf({ [env]: '3000000000' });
      expect(problems.join(), env).toMatch(new RegExp(`to 2147483647 .*set ${env}`));
      expect(problemsOf({ [env]: '2147483647' }).filter((p) => p.includes(env)), env).toEqual([]);
    }
  });

  it('takes keys a rotation replaced, each checked as the current key is', () => {
    const old = 'q2Xw0Yk4s9pZc1vB8nT3mR6fL5hJ7gD2aE4iU0oP1yQ=';
    expect(loadConfig({ SECRETS_ENCRYPTION_KEY: KEY, SECRETS_PREVIOUS_ENCRYPTION_KEYS: ` ${old} ` }).secrets.previousEncryptionKeys).toEqual([old]);
    expect(loadConfig({ SECRETS_ENCRYPTION_KEY: KEY }).secrets.previousEncryptionKeys).toEqual([]);
    expect(problemsOf({ SECRETS_PREVIOUS_ENCRYPTION_KEYS: `${old},hunter2` }).join()).toMatch(/secrets\.previousEncryptionKeys: key 2 must decode from base64 to exactly 32 bytes/);
  });

  it('bounds Postgres queries, or not at all with 0, but never below a second', () => {
    expect(loadConfig({ SECRETS_ENCRYPTION_KEY: KEY }).database.queryTimeoutMs).toBe(30_000);
    expect(loadConfig({ SECRETS_ENCRYPTION_KEY: KEY, DATABASE_QUERY_TIMEOUT_MS: '0' }).database.queryTimeoutMs).toBe(0);
    expect(problemsOf({ DATABASE_POOL_SIZE: '1' }).join()).toMatch(/database\.poolSize: must be at least 2: the webhook change listener holds one connection.*set DATABASE_POOL_SIZE/);
    expect(problemsOf({ DATABASE_POOL_SIZE: '2' })).toEqual([]);
    expect(problemsOf({ DATABASE_QUERY_TIMEOUT_MS: '999' }).join()).toMatch(/database\.queryTimeoutMs: must be 0 \(no limit\) or at least 1000.*set DATABASE_QUERY_TIMEOUT_MS/);
  });

  it('keeps one webhook\'s queue within the buffer all webhooks share', () => {
    expect(problemsOf({ DELIVERER_MAX_BUFFERED: '100', DELIVERER_MAX_QUEUED_PER_WEBHOOK: '101' }).join()).toMatch(/deliverer\.maxQueuedPerWebhook: must be between 1 and .*set DELIVERER_MAX_QUEUED_PER_WEBHOOK/);
    expect(problemsOf({ DELIVERER_MAX_QUEUED_PER_WEBHOOK: '0' }).join()).toContain('deliverer.maxQueuedPerWebhook');
    expect(problemsOf({ DELIVERER_MAX_BUFFERED: '100', DELIVERER_MAX_QUEUED_PER_WEBHOOK: '100' })).toEqual([]);
    expect(problemsOf({ DELIVERER_MAX_DEFERRED: '0' }).join()).toMatch(/deliverer\.maxDeferred: must be at least 1.*set DELIVERER_MAX_DEFERRED/);
  });

  it('bounds the sending threads of a deliverer (none meaning the main thread sends) and takes any bound for the sends the main thread makes while load is light', () => {
    expect(problemsOf({ DELIVERER_HTTP_THREADS: '17' }).join()).toMatch(/deliverer\.httpThreads: must be at most 16.*set DELIVERER_HTTP_THREADS/);
    expect(problemsOf({ DELIVERER_HTTP_THREADS: '0' })).toEqual([]);
    expect(problemsOf({ DELIVERER_HTTP_THREADS: '16' })).toEqual([]);
    expect(problemsOf({ DELIVERER_HTTP_INLINE_BELOW: '0' })).toEqual([]);
    // A deliverer allowed fewer requests at once than the default bound is valid: it simply sends them all itself.
    expect(problemsOf({ DELIVERER_MAX_IN_FLIGHT: '1' })).toEqual([]);
    expect(problemsOf({ DELIVERER_HTTP_INLINE_BELOW: 'many' }).join()).toContain('DELIVERER_HTTP_INLINE_BELOW');
  });
});

describe('connectorTopics', () => {
  it('gives every topic after the deliveries topic room for what the hop before it writes', () => {
    const config = loadConfig({ SECRETS_ENCRYPTION_KEY: KEY, TOPIC_DELIVERIES_MAX_MESSAGE_BYTES: '100000' });
    const limits = Object.fromEntries(connectorTopics(config).map((spec) => [spec.topic, Number(spec.configEntries?.find((e) => e.name === 'max.message.bytes')?.value)]));
    const { topics } = config;
    expect(limits[topics.deliveries]).toBe(100_000);
    for (const topic of [topics.deliveriesDlq, topics.ingestDlq, topics.attempts, `${topics.retryPrefix}.5s`, `${topics.retryPrefix}.10h`]) expect(limits[topic], topic).toBe(200_000);
    expect(limits[topics.attemptsDlq]).toBe(400_000);
    expect(Object.values(limits).every((limit) => limit >= 100_000)).toBe(true);
  });
});

describe('retiredTierLabels', () => {
  it('finds the retry topics of tiers no longer in the schedule, and nothing else under the prefix', () => {
    const config = loadConfig({ SECRETS_ENCRYPTION_KEY: KEY, DELIVERER_RETRY_DELAYS_MS: '5000,300000' });
    const prefix = config.topics.retryPrefix;
    const existing = [`${prefix}.5s`, `${prefix}.5m`, `${prefix}.2h`, `${prefix}.1500ms`, `${prefix}.10h`, `${prefix}.dlq`, `${prefix}.5m.copy`, `${prefix}.0s`, 'other.retry.2h', config.topics.deliveries];
    expect(retiredTierLabels(config, existing)).toEqual(['10h', '1500ms', '2h']);
    expect(retiredTierLabels(config, [`${prefix}.5s`, `${prefix}.5m`])).toEqual([]);
  });
});

describe('limitShortfalls', () => {
  const specs = [
    { topic: 'deliveries', numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: '1000' }] },
    { topic: 'retry', numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: '2000' }] },
    { topic: 'unsized', numPartitions: 1 },
  ];

  it('names each topic that takes less than the connector asks for, with both sizes', () => {
    const found = new Map([['deliveries', 1000], ['retry', 1500], ['unsized', 10]]);
    expect(limitShortfalls(specs, found)).toEqual([{ topic: 'retry', maxMessageBytes: 1500, needed: 2000 }]);
  });

  it('says nothing of topics sized enough, or whose size could not be read', () => {
    expect(limitShortfalls(specs, new Map([['deliveries', 5000]]))).toEqual([]);
  });
});
