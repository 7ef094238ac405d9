import { isIP } from 'node:net';
import type { Schema } from 'convict';

/**
 * The one configuration schema for every process (router, deliverer, admin
 * API, CLI). Each key has a doc, a format, a default and the environment
 * variable that sets it; `docs/configuration.md` is generated from this file.
 */
export interface ConnectorConfig {
  env: 'production' | 'development' | 'test';
  log: { level: string };
  kafka: {
    brokers: string[];
    clientId: string;
    ssl: boolean;
    sasl: { mechanism: string; username: string; password: string };
    connectionTimeoutMs: number;
    sessionTimeoutMs: number;
  };
  schemaRegistry: { url: string; username: string; password: string };
  database: { url: string; poolSize: number; queryTimeoutMs: number };
  topics: {
    userEvents: string;
    groupEvents: string;
    authEvents: string;
    deliveries: string;
    deliveriesPartitions: number;
    deliveriesMaxMessageBytes: number;
    ingestDlq: string;
    deliveriesDlq: string;
    attempts: string;
    attemptsDlq: string;
    retryPrefix: string;
    replicationFactor: number;
  };
  router: { groupId: string; lingerMs: number; transactionMaxTaskBytes: number };
  deliverer: {
    groupId: string;
    maxInFlight: number;
    httpThreads: number;
    httpInlineBelow: number;
    sendAhead: number;
    slowRequestMs: number;
    maxSlowRequests: number;
    maxBuffered: number;
    maxQueuedPerWebhook: number;
    maxDeferred: number;
    fetchMaxBytesPerPartition: number;
    retryDelaysMs: number[];
    retryJitter: number;
    maxRetryAfterMs: number;
    breakerFailureThreshold: number;
    breakerOpenMs: number;
    autoDisableAfterMs: number;
    targetCacheTtlMs: number;
  };
  attempts: { sinkGroupId: string; retentionDays: number };
  http: {
    allowPlainHttp: boolean;
    ssrfAllowlist: string[];
    connectTimeoutMs: number;
    requestTimeoutMs: number;
    maxResponseBytes: number;
    userAgent: string;
  };
  secrets: { encryptionKey: string; previousEncryptionKeys: string[] };
  server: { host: string; port: number };
  admin: {
    verification: 'challenge' | 'off';
    secretRotationOverlapMs: number;
    rateLimitPerMinute: number;
    authFailuresPerMinute: number;
    maxPageSize: number;
    maxRecoverEvents: number;
  };
  shutdown: { timeoutMs: number };
}

const nonEmptyString = {
  name: 'non-empty-string',
  validate(value: unknown): void {
    if (typeof value !== 'string' || value.trim() === '') throw new Error('must be a non-empty string');
  },
};

const brokerList = {
  name: 'broker-list',
  validate(value: unknown): void {
    if (!Array.isArray(value) || value.length === 0) throw new Error('must list at least one broker as host:port');
    for (const broker of value) {
      if (typeof broker !== 'string' || !/^[^\s:]+:\d{1,5}$/.test(broker)) {
        throw new Error(`must be host:port entries separated by commas, "${String(broker)}" is not`);
      }
    }
  },
  coerce: (value: string): string[] => value.split(',').map((b) => b.trim()).filter((b) => b !== ''),
};

const httpUrl = {
  name: 'http-url',
  validate(value: unknown): void {
    if (typeof value !== 'string' || !/^https?:\/\/[^\s]+$/.test(value)) throw new Error('must be an http(s) URL');
  },
};

const postgresUrl = {
  name: 'postgres-url',
  validate(value: unknown): void {
    if (typeof value !== 'string' || !/^postgres(ql)?:\/\/[^\s]+$/.test(value)) {
      throw new Error('must be a postgres:// connection URL');
    }
  },
};

const cidrList = {
  name: 'cidr-list',
  validate(value: unknown): void {
    if (!Array.isArray(value)) throw new Error('must be a comma-separated list of IP addresses or CIDR ranges');
    for (const entry of value) {
      const [address, bits, ...rest] = String(entry).split('/');
      const family = isIP(address ?? '');
      const maxBits = family === 6 ? 128 : 32;
      const bitsOk = bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= maxBits);
      if (family === 0 || !bitsOk || rest.length > 0) throw new Error(`"${String(entry)}" is not an IP address or CIDR range`);
    }
  },
  coerce: (value: string): string[] => value.split(',').map((c) => c.trim()).filter((c) => c !== ''),
};

const encryptionKey = {
  name: 'encryption-key',
  validate(value: unknown): void {
    if (typeof value !== 'string' || value === '') {
      throw new Error('must be set: 32 random bytes in base64 (generate one with `openssl rand -base64 32`)');
    }
    const written = value.trim();
    const key = Buffer.from(written, 'base64');
    if (key.length !== 32) throw new Error('must decode from base64 to exactly 32 bytes');
    // Node's base64 decoding skips what is not base64, so a 43-character passphrase decodes to 32 bytes too. Any
    // faithful writing of the 32 bytes is taken (padded or not, base64url, a trailing newline from a secret file):
    // refused, a key that encrypted stored secrets would send its operator off to make a new one, and lose them.
    const standard = key.toString('base64');
    const faithful = [standard, standard.replace(/=+$/, ''), key.toString('base64url'), `${key.toString('base64url')}=`];
    if (!faithful.includes(written)) throw new Error('is not 32 bytes in base64: it holds characters base64 has not (a passphrase is not a key; a new one comes from `openssl rand -base64 32`, but keep a key that encrypted stored secrets)');
    // 32 random bytes take about 30 distinct values; fewer than 16 is a typed or placeholder key (all zeros, AAAA…).
    if (new Set(key).size < 16) throw new Error('must be 32 random bytes; this one repeats a few byte values (a placeholder?); generate one with `openssl rand -base64 32`');
  },
};

/** Keys a rotation replaced, each checked as SECRETS_ENCRYPTION_KEY is; none by default. */
const encryptionKeyList = {
  name: 'encryption-key-list',
  validate(value: unknown): void {
    if (!Array.isArray(value)) throw new Error('must be a comma-separated list of keys (32 random bytes in base64 each)');
    value.forEach((key: unknown, i) => {
      try {
        encryptionKey.validate(key);
      } catch (error) {
        throw new Error(`key ${i + 1} ${(error as Error).message}`);
      }
    });
  },
  coerce: (value: string): string[] => value.split(',').map((c) => c.trim()).filter((c) => c !== ''),
};

/**
 * Whole numbers, strictly: convict's built-ins read env values with parseInt,
 * so `1e3` became 1 and `1.5` became 1, and nothing said so.
 */
const digitsOnly = (value: string): number | string => (/^\s*\d+\s*$/.test(value) ? Number(value) : value);

/**
 * The longest wait before a retry (3 days): a task waits it out on a retry topic, and with jitter (up to doubling it)
 * the wait stays within the retention of a topic made with Kafka's default (7 days); a task outliving it would be
 * deleted unsent. It also keeps a strict webhook's wait in place within what a timer can hold (24.8 days).
 */
const MAX_RETRY_WAIT_MS = 3 * 24 * 3600 * 1000;

const durationList = {
  name: 'duration-list',
  validate(value: unknown): void {
    if (!Array.isArray(value) || value.length === 0) throw new Error('must list at least one delay in milliseconds, comma-separated');
    for (const entry of value) {
      if (entry === '') throw new Error('an entry is empty (two commas in a row?); list positive whole milliseconds, e.g. 5000,300000');
      if (!Number.isSafeInteger(entry) || (entry as number) <= 0) throw new Error(`delays are positive whole milliseconds; "${String(entry)}" is not (5s is written 5000)`);
      if ((entry as number) > MAX_RETRY_WAIT_MS) throw new Error(`a delay of ${String(entry)} ms is longer than 3 days (${MAX_RETRY_WAIT_MS}): with jitter it could outlive the retry topic's records (Kafka keeps them 7 days by default)`);
    }
  },
  // Entries that are not digits stay as written, so the error names them (Number made "5s" NaN and "" 0).
  coerce: (value: string): Array<number | string> => value.split(',').map((d) => digitsOnly(d.trim())),
};

const fraction = {
  name: 'fraction',
  validate(value: unknown): void {
    if (typeof value !== 'number' || !(value >= 0 && value < 1)) throw new Error('must be a number from 0 up to (not including) 1, e.g. 0.1');
  },
  // Decimal numbers only: Number('') is 0, which turned an empty value into no jitter at all.
  coerce: (value: string): number | string => (/^\s*(\d+\.?\d*|\.\d+)\s*$/.test(value) ? Number(value) : value),
};

const topicName = {
  name: 'topic-name',
  validate(value: unknown): void {
    if (typeof value !== 'string' || !/^[a-zA-Z0-9._-]{1,249}$/.test(value)) {
      throw new Error('must be a Kafka topic name (letters, digits, ".", "_", "-"; at most 249 characters)');
    }
  },
};

const wholeNumber = (name: string, min: number) => ({
  name,
  validate(value: unknown): void {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) throw new Error(`must be a whole number, ${min} or more`);
  },
  coerce: digitsOnly,
});
const count = wholeNumber('count', 0);
const retryWait = {
  name: 'retry-wait',
  validate(value: unknown): void {
    count.validate(value);
    if ((value as number) > MAX_RETRY_WAIT_MS) throw new Error(`must be at most 3 days (${MAX_RETRY_WAIT_MS}): a task waits it out on a retry topic, whose records Kafka keeps 7 days by default`);
  },
  coerce: digitsOnly,
};
const positiveCount = wholeNumber('positive-count', 1);

/** The longest delay Node's timers keep: a longer one fires at once (after 1 ms), with a warning. */
export const MAX_TIMER_MS = 2 ** 31 - 1;
/** Milliseconds waited with a timer, `min` or more: a value past what a timer keeps would end the wait at once. */
const timerMs = (name: string, min: number) => ({
  name,
  validate(value: unknown): void {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > MAX_TIMER_MS) {
      throw new Error(`must be a whole number of milliseconds, ${min} to ${MAX_TIMER_MS} (about 24.8 days: a timer keeps no longer a delay, and a longer one would fire at once)`);
    }
  },
  coerce: digitsOnly,
});
const timeout = timerMs('timeout-ms', 1);
const delayOrZero = timerMs('delay-ms', 0);

const tcpPort = {
  name: 'tcp-port',
  validate(value: unknown): void {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 65_535) throw new Error('must be a port number, 0 to 65535');
  },
  coerce: digitsOnly,
};

/** true or false, strictly: convict's Boolean took anything but "false" as true, so KAFKA_SSL=0 turned TLS on. */
const flag = {
  name: 'flag',
  validate(value: unknown): void {
    if (typeof value !== 'boolean') throw new Error('must be true or false');
  },
  coerce: (value: string): boolean | string => {
    const word = value.trim().toLowerCase();
    return word === 'true' || word === '1' ? true : word === 'false' || word === '0' ? false : value;
  },
};

export const customFormats = [nonEmptyString, brokerList, httpUrl, postgresUrl, cidrList, encryptionKey, encryptionKeyList, topicName, durationList, fraction, count, retryWait, positiveCount, timeout, delayOrZero, tcpPort, flag];

export const configSchema: Schema<ConnectorConfig> = {
  env: {
    doc: 'Deployment mode. `development` and `test` relax HTTPS-only delivery (see http.allowPlainHttp); `production` never does.',
    format: ['production', 'development', 'test'],
    default: 'production',
    env: 'NODE_ENV',
  },
  log: {
    level: {
      doc: 'Minimum log level of the JSON logs.',
      format: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
      default: 'info',
      env: 'LOG_LEVEL',
    },
  },
  kafka: {
    brokers: {
      doc: 'Bootstrap brokers, comma-separated host:port.',
      format: brokerList.name,
      default: ['127.0.0.1:9092'],
      env: 'KAFKA_BROKERS',
    },
    clientId: {
      doc: 'Client id sent to the brokers; shows up in broker logs and quotas.',
      format: nonEmptyString.name,
      default: 'identity-webhooks',
      env: 'KAFKA_CLIENT_ID',
    },
    ssl: {
      doc: 'Connect to the brokers over TLS.',
      format: flag.name,
      default: false,
      env: 'KAFKA_SSL',
    },
    sasl: {
      mechanism: {
        doc: 'SASL mechanism, or empty for none. In production, plain needs KAFKA_SSL=true: it sends the password as it is.',
        format: ['', 'plain', 'scram-sha-256', 'scram-sha-512'],
        default: '',
        env: 'KAFKA_SASL_MECHANISM',
      },
      username: {
        doc: 'SASL user name.',
        format: String,
        bounds: 'required when `KAFKA_SASL_MECHANISM` is set',
        default: '',
        env: 'KAFKA_SASL_USERNAME',
      },
      password: {
        doc: 'SASL password.',
        format: String,
        default: '',
        env: 'KAFKA_SASL_PASSWORD',
        sensitive: true,
      },
    },
    connectionTimeoutMs: {
      doc: 'How long to wait for a broker connection before trying the next one.',
      format: timeout.name,
      default: 5000,
      env: 'KAFKA_CONNECTION_TIMEOUT_MS',
    },
    sessionTimeoutMs: {
      doc: 'Consumer group session timeout: how long a crashed instance holds its partitions before the group reassigns them.',
      format: timeout.name,
      default: 30000,
      env: 'KAFKA_SESSION_TIMEOUT_MS',
    },
  },
  schemaRegistry: {
    url: {
      doc: 'Base URL of the Confluent-compatible schema registry (for Apicurio: http://host:port/apis/ccompat/v7). With a user set, https in production: the password goes with every request.',
      format: httpUrl.name,
      default: 'http://127.0.0.1:8081',
      env: 'SCHEMA_REGISTRY_URL',
    },
    username: {
      doc: 'Basic-auth user for the registry, or empty.',
      format: String,
      default: '',
      env: 'SCHEMA_REGISTRY_USERNAME',
    },
    password: {
      doc: 'Basic-auth password for the registry.',
      format: String,
      default: '',
      env: 'SCHEMA_REGISTRY_PASSWORD',
      sensitive: true,
    },
  },
  database: {
    url: {
      doc: 'Postgres connection URL holding subscriptions, delivery attempts and API tokens.',
      format: postgresUrl.name,
      default: 'postgres://postgres:postgres@127.0.0.1:5432/webhooks',
      env: 'DATABASE_URL',
      sensitive: true,
    },
    poolSize: {
      doc: 'Maximum connections in this process\'s Postgres pool; the webhook change listener of routers and deliverers holds one of them.',
      format: positiveCount.name,
      default: 10,
      bounds: 'at least 2',
      env: 'DATABASE_POOL_SIZE',
    },
    queryTimeoutMs: {
      doc: 'Longest a Postgres query may go unanswered before it fails and its connection is dropped: a server that stops answering without closing the connection (a failover, a network flow dropped) is otherwise found only by TCP keepalive, minutes later, while shutdown waits. A query that only runs long fails alike (the delivery-log sink tries its batch again, heartbeating its group meanwhile). 0: no limit. Migrations are not bound by it.',
      format: delayOrZero.name,
      default: 30000,
      bounds: '0 (none) or at least 1000',
      env: 'DATABASE_QUERY_TIMEOUT_MS',
    },
  },
  topics: {
    userEvents: {
      doc: 'Source topic of user events (Avro, Confluent wire format).',
      format: topicName.name,
      default: 'identity.user-events',
      env: 'TOPIC_USER_EVENTS',
    },
    groupEvents: {
      doc: 'Source topic of group events.',
      format: topicName.name,
      default: 'identity.group-events',
      env: 'TOPIC_GROUP_EVENTS',
    },
    authEvents: {
      doc: 'Source topic of auth events.',
      format: topicName.name,
      default: 'identity.auth-events',
      env: 'TOPIC_AUTH_EVENTS',
    },
    deliveries: {
      doc: 'Delivery tasks, keyed by webhook id so each endpoint sees its events in order.',
      format: topicName.name,
      default: 'webhooks.deliveries',
      env: 'TOPIC_DELIVERIES',
    },
    deliveriesPartitions: {
      doc: 'Partitions of the deliveries topic when the connector creates it: the ceiling on deliverer instances.',
      format: positiveCount.name,
      default: 12,
      env: 'TOPIC_DELIVERIES_PARTITIONS',
    },
    deliveriesMaxMessageBytes: {
      doc: 'The largest delivery task (bytes) the router publishes, and the deliveries topic\'s `max.message.bytes` when the connector creates it. A source event whose task would be larger goes to the ingest dead-letter topic (`TASK_TOO_LARGE`). The topics after it (retry tiers, dead letters, attempts) are created with twice this, or four times for the attempts dead letters, since they carry a task plus headers, a request and a response; topics created by hand need the same headroom.',
      format: positiveCount.name,
      bounds: '16384 to 268435456',
      default: 1_048_576,
      env: 'TOPIC_DELIVERIES_MAX_MESSAGE_BYTES',
    },
    ingestDlq: {
      doc: 'Dead letters of source records that could not be decoded, with the reason in headers.',
      format: topicName.name,
      default: 'webhooks.ingest.dlq',
      env: 'TOPIC_INGEST_DLQ',
    },
    deliveriesDlq: {
      doc: 'Dead letters of deliveries that failed for good or ran out of retries.',
      format: topicName.name,
      default: 'webhooks.deliveries.dlq',
      env: 'TOPIC_DELIVERIES_DLQ',
    },
    attempts: {
      doc: 'Every delivery attempt, for the Postgres delivery log.',
      format: topicName.name,
      default: 'webhooks.attempts',
      env: 'TOPIC_ATTEMPTS',
    },
    attemptsDlq: {
      doc: 'Dead letters of the delivery log: messages on the attempts topic that are not attempt records, and records Postgres refuses, with the reason in headers.',
      format: topicName.name,
      default: 'webhooks.attempts.dlq',
      env: 'TOPIC_ATTEMPTS_DLQ',
    },
    retryPrefix: {
      doc: 'Prefix of the retry topics, one per distinct delay of the schedule: `<prefix>.5s`, `<prefix>.5m`, …',
      format: topicName.name,
      default: 'webhooks.deliveries.retry',
      env: 'TOPIC_RETRY_PREFIX',
    },
    replicationFactor: {
      doc: 'Replication factor of the topics the connector creates (3 in production clusters, 1 on a single local broker).',
      format: positiveCount.name,
      default: 3,
      env: 'TOPIC_REPLICATION_FACTOR',
    },
  },
  router: {
    groupId: {
      doc: 'Consumer group of the router instances. Also names their transactional ids, one per source partition (`<group>-<topic>-<partition>`), so every instance runs with the same settings and whichever owns a partition fences the one that owned it before.',
      format: nonEmptyString.name,
      default: 'webhooks-router',
      env: 'ROUTER_GROUP_ID',
    },
    lingerMs: {
      doc: 'After routing a batch that caught up with its partition, how long the router waits before fetching again, so that the next transaction carries what arrived meanwhile rather than an event or two (each transaction costs the broker five round trips). Adds up to this much latency; a router behind never waits, an idle one never fetches more often. 0 fetches again at once.',
      format: delayOrZero.name,
      bounds: 'at most 1000',
      default: 10,
      env: 'ROUTER_LINGER_MS',
    },
    transactionMaxTaskBytes: {
      doc: 'Bytes of delivery tasks one router transaction carries at most (an event\'s tasks are never split; a transaction takes at least one event). A transaction\'s tasks are held in memory until it commits, and heartbeats wait for it: with thousands of webhooks matching every event, 2,000 source records (the most a transaction takes) would make gigabytes of tasks and outlast the group session. Each transaction beyond the first costs the broker five round trips.',
      format: positiveCount.name,
      default: 32 * 1024 * 1024,
      env: 'ROUTER_TRANSACTION_MAX_TASK_BYTES',
    },
  },
  deliverer: {
    groupId: {
      doc: 'Consumer group of the deliverer instances.',
      format: nonEmptyString.name,
      default: 'webhooks-deliverer',
      env: 'DELIVERER_GROUP_ID',
    },
    maxInFlight: {
      doc: 'Requests of first attempts open at once in one deliverer process, across all webhooks; each retry tier has a quarter of it (at least 1) besides. With sending threads the bound holds in each thread (an endpoint URL keeps to one thread), up to DELIVERER_SEND_AHEAD more tasks are signed and wait in the threads for one of these slots, and as load rises up to DELIVERER_HTTP_INLINE_BELOW − 1 requests already sent from the main thread may still be open.',
      format: positiveCount.name,
      default: 64,
      env: 'DELIVERER_MAX_IN_FLIGHT',
    },
    httpThreads: {
      doc: 'Threads of a deliverer process that send the HTTP requests (writing requests, parsing answers, TLS), apart from the main thread that reads tasks, signs them and logs attempts. With 1 the main thread spends about half the CPU per delivery (measured 52–65 against 110–138 µs), so a deliverer with a second core does up to twice as much; 0 sends from the main thread, for one core per process. With several, each endpoint URL keeps to one thread, so its keep-alive connections are shared.',
      format: count.name,
      bounds: 'at most 16',
      default: 1,
      env: 'DELIVERER_HTTP_THREADS',
    },
    httpInlineBelow: {
      doc: 'With sending threads (DELIVERER_HTTP_THREADS of 1 or more), a request goes out from the main thread instead while fewer than this many are in flight in the process (not counting requests waiting on slow endpoints, see DELIVERER_SLOW_REQUEST_MS): a lightly loaded deliverer has the event loop to spare, and a lone busy webhook, whose sends go one at a time, skips two hops between threads per round trip (its ceiling rose about 1.7 times in bench:delivery --only serial). Under load the threads take the requests. 0 sends everything through the threads; at or above DELIVERER_MAX_IN_FLIGHT first attempts all go out from the main thread (a deliverer allowed that few requests at once is never under load).',
      format: count.name,
      default: 4,
      env: 'DELIVERER_HTTP_INLINE_BELOW',
    },
    sendAhead: {
      doc: 'With sending threads, tasks of first attempts signed and handed to the threads beyond DELIVERER_MAX_IN_FLIGHT, waiting there for a request slot (each retry tier has a quarter of it besides). A slot then goes to the next request the moment an answer comes, rather than once the main thread, busy reading tasks and logging attempts in stretches of milliseconds, has seen the answer: at 64 slots and no tasks ahead the connections stood idle for a good part of each such stretch (bench:delivery throughput, deliverer as a process of its own: 0.44–0.46 of the raw loop, against 0.53–0.57 with 128 ahead). A task waiting there counts as in flight (webhooks_deliveries_in_flight); its signature timestamp is that of its signing, a few milliseconds earlier. 0 signs a task only once a slot is free.',
      format: count.name,
      default: 128,
      env: 'DELIVERER_SEND_AHEAD',
    },
    slowRequestMs: {
      doc: 'A request open this long (milliseconds on the wire: not counting a wait in a sending thread for a slot, see DELIVERER_SEND_AHEAD) stops counting against DELIVERER_MAX_IN_FLIGHT: it waits aside, its webhook still waiting for it, and its slot goes to other webhooks. Without it, as many endpoints answering slowly as there are slots would stall every healthy webhook of the process (slow answers are successes, so the circuit breaker never opens). Its webhook is then held, and keeps a smaller queue (see DELIVERER_MAX_QUEUED_PER_WEBHOOK). 0 keeps every request in its slot until answered, and no webhook is held for a slow answer.',
      format: delayOrZero.name,
      default: 1000,
      env: 'DELIVERER_SLOW_REQUEST_MS',
    },
    maxSlowRequests: {
      doc: 'Requests past DELIVERER_SLOW_REQUEST_MS waiting aside at once, at most, per deliverer process (each holds a connection open), and of those open in each sending thread; past it a slow request keeps its slot.',
      format: count.name,
      default: 1000,
      env: 'DELIVERER_MAX_SLOW_REQUESTS',
    },
    maxBuffered: {
      doc: 'Tasks read but not finished, at most, of the deliveries topic per deliverer process; reading pauses above it (bounds memory under a backlog). Tasks waiting aside (a request past DELIVERER_SLOW_REQUEST_MS, a strict webhook waiting out a retry in place) count only past as many again: each is its webhook\'s running task, which cannot go back to Kafka, and counted from the first, that many strict webhooks failing at once would stop reading for every other webhook until their retries came due (minutes to hours). So memory is bounded by twice this, at worst. Each retry tier has a quarter of it (at least 100) besides.',
      format: positiveCount.name,
      default: 10000,
      env: 'DELIVERER_MAX_BUFFERED',
    },
    maxQueuedPerWebhook: {
      doc: 'Tasks of one webhook queued in a deliverer process, at most. Its later tasks stay in Kafka (only their offsets, 8 bytes each, are kept, up to DELIVERER_MAX_DEFERRED per process) and are read again once its queue is down to half, so a slow endpoint or a strict webhook waiting out a retry never fills the buffer every webhook shares. Once the buffer is 90 % full, a webhook queues a tenth of it (at least 1); its partition waits up to 100 ms for the buffer to drain before a task past that is left in Kafka, so a healthy backlog is read once. Held webhooks (their last request waited aside: past DELIVERER_SLOW_REQUEST_MS, or a strict webhook waiting out a retry) share half of DELIVERER_MAX_BUFFERED equally, each at most a tenth of this (at least 1), and give what they queued beyond that back to Kafka, so many held endpoints cannot fill the buffer together either; a webhook queues its full share again once a task of it finishes without waiting aside. At most DELIVERER_MAX_BUFFERED; each retry tier has a quarter of it (at least 1).',
      format: count.name,
      bounds: '1 to `DELIVERER_MAX_BUFFERED`',
      default: 1000,
      env: 'DELIVERER_MAX_QUEUED_PER_WEBHOOK',
    },
    maxDeferred: {
      doc: 'Tasks left in Kafka behind full webhook queues (see DELIVERER_MAX_QUEUED_PER_WEBHOOK), at most, per deliverer process: their offsets take 8 bytes each. Above it reading new tasks waits until deferred ones have been read again. Tasks a held webhook gives back from its queue are left in Kafka whatever the count (they are already read, and cannot wait), so it may pass this by up to DELIVERER_MAX_BUFFERED. Each retry tier has a quarter of it (at least 100).',
      format: count.name,
      bounds: 'at least 1',
      default: 1_000_000,
      env: 'DELIVERER_MAX_DEFERRED',
    },
    fetchMaxBytesPerPartition: {
      doc: 'Bytes of one partition a deliverer\'s fetch returns, at most (Kafka still returns a record batch larger than this whole, so reading never stalls). A deliverer stops reading a partition where a task has to wait (a buffer nearly full, a retry not due yet) and fetches again from there later: what a fetch brought past that point was read for nothing. With the Kafka client\'s default of 1 MiB, a 90,000-task backlog read 350–470 MB for 54 MB of tasks; at 128 KiB, 100 MB. Retry tiers use it too.',
      format: positiveCount.name,
      default: 131_072,
      env: 'DELIVERER_FETCH_MAX_BYTES_PER_PARTITION',
    },
    retryDelaysMs: {
      doc: 'Wait before each retry, in milliseconds, comma-separated: after attempt n fails, the n-th delay. After the last, the task is dead-lettered. Each at most 3 days (with jitter, within the 7 days Kafka keeps a retry topic\'s records by default). Each distinct delay is a topic; deliverers also drain the topics of delays dropped from an earlier schedule.',
      format: durationList.name,
      default: [5000, 300000, 1800000, 7200000, 18000000, 36000000, 36000000],
      env: 'DELIVERER_RETRY_DELAYS_MS',
    },
    retryJitter: {
      doc: 'Random spread of each retry delay, as a fraction (0.1 = ±10 %), so retries of many tasks do not arrive together.',
      format: fraction.name,
      default: 0.1,
      env: 'DELIVERER_RETRY_JITTER',
    },
    maxRetryAfterMs: {
      doc: 'Longest `Retry-After` an endpoint may ask for; longer requests are capped to it. One past the longest retry delay (with its jitter) is waited out hopping through that tier, unsent and not counted as an attempt. At most 3 days (the retry topics keep records 7 days by default).',
      format: retryWait.name,
      default: 21600000,
      env: 'DELIVERER_MAX_RETRY_AFTER_MS',
    },
    breakerFailureThreshold: {
      doc: 'Retryable failures in a row (408, 429, 5xx, timeouts, connection errors) after which an endpoint\'s circuit opens (its tasks go to the retry path unsent). Any other answer, a 400 say, shows the endpoint up and closes it.',
      format: positiveCount.name,
      default: 5,
      env: 'DELIVERER_BREAKER_FAILURE_THRESHOLD',
    },
    breakerOpenMs: {
      doc: 'How long an open circuit stays open before one probe request is let through.',
      format: delayOrZero.name,
      default: 30000,
      env: 'DELIVERER_BREAKER_OPEN_MS',
    },
    autoDisableAfterMs: {
      doc: 'A webhook whose deliveries have failed continuously this long is set inactive, with the reason (default 5 days). Continuously: a success ends the streak, and a failure after a quiet spell with none (a day, or this window if shorter) starts a new one. 0: never.',
      format: count.name,
      default: 432000000,
      env: 'DELIVERER_AUTO_DISABLE_AFTER_MS',
    },
    targetCacheTtlMs: {
      doc: 'How long a deliverer keeps a webhook it read from Postgres before reading it again. Changes reach deliverers by notification within a second; this only bounds a lost one. While Postgres is unreachable, the last version read keeps being used, so deliveries go on.',
      format: count.name,
      default: 60000,
      env: 'DELIVERER_TARGET_CACHE_TTL_MS',
    },
  },
  attempts: {
    sinkGroupId: {
      doc: 'Consumer group of the sink that writes delivery attempts to Postgres.',
      format: nonEmptyString.name,
      default: 'webhooks-attempts-sink',
      env: 'ATTEMPTS_SINK_GROUP_ID',
    },
    retentionDays: {
      doc: 'Delivery attempts older than this are deleted from Postgres, by every attempts sink: a minute after it starts, then an hour after each run ends, in statements of at most 5,000 rows.',
      format: positiveCount.name,
      default: 30,
      env: 'ATTEMPTS_RETENTION_DAYS',
    },
  },
  http: {
    allowPlainHttp: {
      doc: 'Allow http:// webhook URLs. Refused when env is production.',
      format: flag.name,
      default: false,
      env: 'HTTP_ALLOW_PLAIN_HTTP',
    },
    ssrfAllowlist: {
      doc: 'Addresses or CIDR ranges that outgoing requests may reach although they are loopback, private or link-local (comma-separated). In production, a list that opens a cloud metadata address (169.254.169.254, fd00:ec2::254) or every range the guard refuses is refused: it turns the guard off.',
      format: cidrList.name,
      default: [],
      env: 'HTTP_SSRF_ALLOWLIST',
    },
    connectTimeoutMs: {
      doc: 'Connect timeout of a webhook request.',
      format: timeout.name,
      default: 5000,
      env: 'HTTP_CONNECT_TIMEOUT_MS',
    },
    requestTimeoutMs: {
      doc: 'Timeout of a whole webhook request, response body included.',
      format: timeout.name,
      default: 15000,
      env: 'HTTP_REQUEST_TIMEOUT_MS',
    },
    maxResponseBytes: {
      doc: 'Bytes of a response body read and kept in the delivery log.',
      format: count.name,
      default: 65536,
      env: 'HTTP_MAX_RESPONSE_BYTES',
    },
    userAgent: {
      doc: 'User-Agent header of webhook requests.',
      format: nonEmptyString.name,
      default: 'identity-webhooks/0.1',
      env: 'HTTP_USER_AGENT',
    },
  },
  secrets: {
    encryptionKey: {
      doc: 'Key that encrypts webhook signing secrets and API keys at rest: 32 random bytes, base64 (`openssl rand -base64 32`).',
      format: encryptionKey.name,
      default: '',
      env: 'SECRETS_ENCRYPTION_KEY',
      sensitive: true,
    },
    previousEncryptionKeys: {
      doc: 'Keys SECRETS_ENCRYPTION_KEY replaced, comma-separated: secrets stored under them still decrypt, while everything new is encrypted with the current key. To rotate, see README, "Rotating the encryption key": the new key here first, then swapped with the current one, then `identity-webhooks reencrypt-secrets` (`npm run reencrypt-secrets` from a checkout), then this emptied.',
      format: encryptionKeyList.name,
      default: [],
      env: 'SECRETS_PREVIOUS_ENCRYPTION_KEYS',
      sensitive: true,
    },
  },
  server: {
    host: {
      doc: 'Address the process\'s HTTP server (health, metrics, admin API) listens on.',
      format: nonEmptyString.name,
      default: '0.0.0.0',
      env: 'SERVER_HOST',
    },
    port: {
      doc: 'Port of the process\'s HTTP server; 0 picks a free one.',
      format: tcpPort.name,
      default: 9464,
      env: 'SERVER_PORT',
    },
  },
  admin: {
    verification: {
      doc: 'How new or re-pointed webhooks get verified: `challenge` sends a signed challenge the endpoint must echo; `off` marks them verified at once (development only, refused in production).',
      format: ['challenge', 'off'],
      default: 'challenge',
      env: 'ADMIN_WEBHOOK_VERIFICATION',
    },
    secretRotationOverlapMs: {
      doc: 'After a signing-secret rotation, how long the previous secret keeps signing too, so receivers can switch without dropping events (default 24 h).',
      format: count.name,
      default: 86400000,
      env: 'ADMIN_SECRET_ROTATION_OVERLAP_MS',
    },
    rateLimitPerMinute: {
      doc: 'Admin API requests one token may make per minute; more get 429 with Retry-After.',
      format: positiveCount.name,
      default: 600,
      env: 'ADMIN_RATE_LIMIT_PER_MINUTE',
    },
    authFailuresPerMinute: {
      doc: 'Failed authentications (no, unknown, expired or revoked token) one client address may make per minute and admin API process; past it the address gets 429 with Retry-After, before its token is looked up, until the minute ends. Each lookup is a Postgres query, and the per-token limit cannot count a token that is none. A token that worked in the last ten minutes always goes on, so behind a proxy (whose address every client shares) bad tokens lock no admin out. 0 turns it off.',
      format: count.name,
      default: 60,
      env: 'ADMIN_AUTH_FAILURES_PER_MINUTE',
    },
    maxPageSize: {
      doc: 'Largest `limit` a list request of the admin API may ask for.',
      format: positiveCount.name,
      default: 200,
      env: 'ADMIN_MAX_PAGE_SIZE',
    },
    maxRecoverEvents: {
      doc: 'Failed events one `recover` request queues at most, oldest first; past it the answer says `more` and gives `nextSince`, where the next request carries on.',
      format: positiveCount.name,
      default: 10000,
      env: 'ADMIN_MAX_RECOVER_EVENTS',
    },
  },
  shutdown: {
    timeoutMs: {
      doc: 'Bound on an ordered shutdown after SIGTERM/SIGINT; past it the process exits non-zero. At least 6000: deliverers drain in-flight requests for 5 s less than it.',
      format: timeout.name,
      bounds: 'at least 6000',
      default: 30000,
      env: 'SHUTDOWN_TIMEOUT_MS',
    },
  },
};
