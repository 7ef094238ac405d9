import Fastify from 'fastify';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { healthRoutes } from '../../admin-api/routes/health.js';
import { checkReadiness } from '../../connector/observability/server.js';

describe('readiness', () => {
  it('names each dependency that does not answer, and why', async () => {
    const result = await checkReadiness({
      postgres: async () => {
        throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
      },
      kafka: async () => undefined,
    });
    expect(result).toEqual({ ready: false, body: { status: 'not ready', down: { postgres: 'connect ECONNREFUSED 127.0.0.1:5432' } } });
    expect(await checkReadiness({ kafka: async () => undefined })).toEqual({ ready: true, body: { status: 'ready', down: {} } });
  });

  it('the admin API answers /readyz 503 naming what is down but not why (the log has it), 200 when it is back', async () => {
    let postgresUp = false;
    const logged: string[] = [];
    const app = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => void logged.push(line) } } });
    await app.register(healthRoutes({ postgres: async () => { if (!postgresUp) throw new Error('connect ECONNREFUSED 10.2.3.4:5432'); } }, new Registry()));
    const down = await app.inject({ method: 'GET', url: '/readyz' });
    expect(down.statusCode).toBe(503);
    expect(down.json()).toEqual({ status: 'not ready', down: { postgres: 'unavailable' } });
    expect(down.body).not.toContain('10.2.3.4');
    expect(logged.join()).toContain('connect ECONNREFUSED 10.2.3.4:5432');
    postgresUp = true;
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    await app.close();
  });
});
