import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createPool, type Pool } from '../../connector/db/pool.js';
import { createRootLogger } from '../../connector/observability/logger.js';
import { unavailableDependency } from '../../admin-api/unavailable.js';
import { testConfig } from '../support/harness.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

/** DATABASE_QUERY_TIMEOUT_MS on real Postgres: a slow query and a server gone silent each fail in bounded time. */
describe('Postgres query timeout', () => {
  const config = testConfig(inject('services'));
  const log = createRootLogger({ level: config.log.level });
  const QUERY_TIMEOUT_MS = 1000;
  let proxy: TcpProxy;
  let pool: Pool;

  beforeAll(async () => {
    const url = new URL(config.database.url);
    proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port) });
    url.port = String(proxy.port);
    pool = createPool({ url: url.toString(), max: 2, applicationName: 'query-timeout-test', queryTimeoutMs: QUERY_TIMEOUT_MS }, log);
  });

  afterAll(async () => {
    await pool.end();
    await proxy.close();
  });

  it('a query running past it fails, its connection is dropped, and the pool goes on with a new one', async () => {
    const backend = async () => (await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    const before = await backend();
    const started = Date.now();
    const error = await pool.query('SELECT pg_sleep(10), pg_backend_pid()').then(() => null, (e: unknown) => e as Error);
    expect(error?.message).toMatch(/Query read timeout/);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(unavailableDependency(error)).toBe('postgres');
    // The slow query took the pool's one idle connection (whose pid was asked first): it is not handed out again.
    const pids = new Set(await Promise.all([backend(), backend()]));
    expect(pids.size).toBe(2);
    expect(pids.has(before)).toBe(false);
  });

  it('a server that stops answering fails the query in that time; the silent connection is dropped, not reused', async () => {
    await pool.query('SELECT 1');
    proxy.stall();
    const started = Date.now();
    const error = await pool.query('SELECT 1').then(() => null, (e: unknown) => e as Error);
    expect(error?.message).toMatch(/Query read timeout/);
    // Without the timeout the query would wait for TCP keepalive, minutes.
    expect(Date.now() - started).toBeLessThan(QUERY_TIMEOUT_MS + 3000);
    expect(unavailableDependency(error)).toBe('postgres');
    proxy.restore();
    // On a new connection: the one that went silent would answer with the stalled exchange's leftovers, or nothing.
    expect((await pool.query<{ one: number }>('SELECT 1 AS one')).rows[0]!.one).toBe(1);
  });
});
