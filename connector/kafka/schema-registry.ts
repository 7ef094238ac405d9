import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import type avro from 'avsc';
import { poison, transient } from '../errors.js';

/** How long a registry that answered GET /subjects is taken to be one (see answersAsRegistry). */
const REGISTRY_ANSWER_FRESH_MS = 10_000;

/**
 * The registry as the connector uses it. Wrapping the client keeps the
 * library swappable and classifies its failures once: a schema id the
 * registry does not know, or a schema it returns that does not parse, is
 * poison; anything else (outage, 5xx, timeout) is transient.
 */
export interface SchemaRegistryClient {
  writerType(schemaId: number): Promise<avro.Type>;
  register(subject: string, schema: object): Promise<number>;
  encode(schemaId: number, value: unknown): Promise<Buffer>;
  setCompatibility(subject: string, level: 'BACKWARD' | 'FORWARD' | 'FULL' | 'NONE'): Promise<void>;
  /** Resolves when the URL answers as a registry does, with the client's credentials; else throws why not. */
  ready(): Promise<void>;
}

/**
 * How long a registry request may go without a byte of answer (a socket
 * timeout: the HTTP library has no whole-request deadline). Without one, a
 * registry that takes the connection and never answers holds the router's
 * batch, and with it the heartbeats of its group member, for good: the group
 * would move the partitions on while the process looked healthy.
 */
const DEFAULT_REQUEST_TIMEOUT_MS = 5000;

/** The client's HTTP library's hook for a request's timeout (a request that sets its own keeps it). */
interface TimeoutAware {
  timeout(): number | undefined;
  enhance(changes: { timeout: number }): TimeoutAware;
}
const requestTimeout = (ms: number) => () => ({
  async prepareRequest(next: () => Promise<TimeoutAware>): Promise<TimeoutAware> {
    const request = await next();
    return request.timeout() ? request : request.enhance({ timeout: ms });
  },
});

export interface SchemaRegistryOptions {
  url: string;
  username: string;
  password: string;
  requestTimeoutMs?: number;
}

export function createSchemaRegistryClient(options: SchemaRegistryOptions): SchemaRegistryClient {
  const auth = options.username ? { username: options.username, password: options.password } : undefined;
  const timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const middlewares = [requestTimeout(timeoutMs)] as unknown as ConstructorParameters<typeof SchemaRegistry>[0]['middlewares'];
  const registry = new SchemaRegistry({ host: options.url, ...(auth ? { auth } : {}), retry: { retries: 2 }, middlewares });
  const base = options.url.replace(/\/$/, '');
  const authorization = auth ? { authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` } : undefined;

  /** Throws unless the URL answers as a registry does: its subjects, as a JSON array. */
  const ready = async (): Promise<void> => {
    const response = await fetch(`${base}/subjects`, { headers: { ...authorization }, signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) throw new Error(`GET /subjects answered HTTP ${response.status}`);
    if (!Array.isArray(await response.json())) throw new Error('GET /subjects did not answer a list of subjects');
  };
  /** Whether the registry answers for this id with a schema text (JSON with a string `schema`), whatever the text says. */
  const answersWithSchema = async (schemaId: number): Promise<boolean> => {
    try {
      const response = await fetch(`${base}/schemas/ids/${schemaId}`, { headers: { ...authorization }, signal: AbortSignal.timeout(timeoutMs) });
      if (!response.ok) return false;
      const body = (await response.json()) as { schema?: unknown } | null;
      return typeof body?.schema === 'string';
    } catch {
      return false;
    }
  };
  /**
   * Only from a URL that answers as a registry is a 404 for a schema id believed. A yes holds for a few seconds:
   * a slice of garbage records carries many unknown ids, and each would cost this request too.
   */
  let registryAnsweredAt = Number.NEGATIVE_INFINITY;
  const answersAsRegistry = async (): Promise<boolean> => {
    if (Date.now() - registryAnsweredAt < REGISTRY_ANSWER_FRESH_MS) return true;
    const answers = await ready().then(() => true, () => false);
    if (answers) registryAnsweredAt = Date.now();
    return answers;
  };

  return {
    async writerType(schemaId) {
      try {
        return (await registry.getSchema(schemaId)) as unknown as avro.Type;
      } catch (error) {
        const status = (error as { status?: number }).status;
        // A 404 from something that is no registry (a base path missing its /apis/ccompat/v7, a proxy) says nothing
        // of the id: as poison, every record would be dead-lettered until the URL was fixed.
        if (status === 404 && (await answersAsRegistry())) throw poison('UNKNOWN_SCHEMA_ID', `schema id ${schemaId} is not in the registry`, error);
        // Every failure to reach the registry or of its answer carries an HTTP status (the client gives network
        // errors and timeouts one too). Without one, the answer came but could not be used: a schema that does not
        // parse (an invalid default, a JSON Schema draft the client cannot read) is poison, as asked again the
        // registry answers the same, and as transient the record would hold its partition for good. But only if
        // the answer really is a registry's schema: a proxy's login or maintenance page (200, HTML) is an outage.
        if (status === undefined && (await answersWithSchema(schemaId))) {
          throw poison('SCHEMA_INVALID', `schema ${schemaId} from the registry cannot be read: ${(error as Error).message}`, error);
        }
        throw transient('REGISTRY_UNAVAILABLE', `schema registry did not return schema ${schemaId}: ${(error as Error).message}`, error);
      }
    },
    async register(subject, schema) {
      const { id } = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(schema) }, { subject });
      return id;
    },
    encode: (schemaId, value) => registry.encode(schemaId, value),
    ready,
    async setCompatibility(subject, level) {
      const response = await fetch(`${base}/config/${encodeURIComponent(subject)}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/vnd.schemaregistry.v1+json', ...authorization },
        body: JSON.stringify({ compatibility: level }),
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (!response.ok) throw transient('REGISTRY_CONFIG_FAILED', `setting ${level} on ${subject} failed: HTTP ${response.status} ${await response.text()}`);
    },
  };
}
