import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';

/** Kafka answers as a cluster (metadata with at least one broker), not merely an open port. */
export async function kafkaHealthy(brokers: string[]): Promise<boolean> {
  const kafka = new Kafka({ clientId: 'stack-health', brokers, logLevel: logLevel.NOTHING, connectionTimeout: 1000, requestTimeout: 2000, retry: { retries: 0 } });
  const admin = kafka.admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length > 0;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** An HTTP endpoint answers 2xx within 2 s. */
export async function httpHealthy(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}

/** Postgres accepts a login to the database and runs a query. */
export async function postgresHealthy(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}
