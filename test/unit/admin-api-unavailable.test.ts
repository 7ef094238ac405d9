import { createServer, type AddressInfo } from 'node:net';
import { Kafka, KafkaJSNonRetriableError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError, logLevel } from 'kafkajs';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { toProblem } from '../../admin-api/problem.js';
import { unavailableDependency } from '../../admin-api/unavailable.js';

/** A port on 127.0.0.1 nothing listens on (taken, then let go). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** What a client really throws when its server is not there. */
async function failureOf(attempt: () => Promise<unknown>): Promise<unknown> {
  try {
    await attempt();
  } catch (error) {
    return error;
  }
  throw new Error('expected the attempt to fail');
}

describe('dependencies out of reach: 503 with Retry-After, not 500', () => {
  it('tells a Postgres client refused a connection, and a server shutting down or out of connections', async () => {
    const port = await closedPort();
    const refused = await failureOf(() => new pg.Client({ host: '127.0.0.1', port, user: 'x', database: 'x' }).connect());
    expect(unavailableDependency(refused)).toBe('postgres');
    for (const code of ['57P01', '57P03', '53300', '08006']) expect(unavailableDependency(Object.assign(new Error('server says no'), { code })), code).toBe('postgres');
    const problem = toProblem(refused);
    expect(problem.status).toBe(503);
    expect(problem.type).toBe('unavailable');
    expect(problem.headers).toEqual({ 'retry-after': '5' });
    expect(problem.detail).toMatch(/Postgres is out of reach/);
    // A read is safe to repeat; a change that failed this way may have been made, which the client is told.
    expect(problem.detail).not.toMatch(/may have been made/);
    for (const method of ['POST', 'PATCH', 'DELETE']) expect(toProblem(refused, method).detail, method).toMatch(/The change may have been made before the failure: read it back/);
    expect(toProblem(refused, 'HEAD').detail).not.toMatch(/may have been made/);
  });

  it('tells a Kafka client that could not reach its broker', async () => {
    const port = await closedPort();
    const producer = new Kafka({ brokers: [`127.0.0.1:${port}`], logLevel: logLevel.NOTHING, retry: { retries: 0 }, connectionTimeout: 500 }).producer();
    const refused = await failureOf(() => producer.connect());
    expect(unavailableDependency(refused)).toBe('kafka');
    expect(toProblem(refused)).toMatchObject({ status: 503, type: 'unavailable', detail: expect.stringMatching(/Kafka is out of reach/) });
  });

  it('tells a broker answering with an error it says to retry, through kafkajs\'s retries', () => {
    const noLeader = new KafkaJSProtocolError({ message: 'There is no leader for this topic-partition', type: 'LEADER_NOT_AVAILABLE', retriable: true, code: 5 } as never);
    expect(unavailableDependency(new KafkaJSNumberOfRetriesExceeded(noLeader, { retryCount: 5, retryTime: 1000 }))).toBe('kafka');
  });

  it('leaves every other failure a 500: errors Kafka will answer again, a constraint Postgres refuses, a protocol violation, a bug', () => {
    const tooLarge = new KafkaJSProtocolError({ message: 'The request included a message larger than the max message size the server will accept', type: 'MESSAGE_TOO_LARGE', retriable: false, code: 10 } as never);
    expect(unavailableDependency(tooLarge)).toBeNull();
    expect(unavailableDependency(new KafkaJSNonRetriableError(tooLarge))).toBeNull();
    expect(toProblem(tooLarge)).toMatchObject({ status: 500, type: 'internal' });
    expect(unavailableDependency(Object.assign(new Error('duplicate key value'), { code: '23505' }))).toBeNull();
    expect(unavailableDependency(Object.assign(new Error('bind message supplies 3 parameters'), { code: '08P01' }))).toBeNull();
    expect(unavailableDependency(new TypeError('x is undefined'))).toBeNull();
    expect(toProblem(new TypeError('x is undefined'))).toMatchObject({ status: 500, type: 'internal' });
  });
});
