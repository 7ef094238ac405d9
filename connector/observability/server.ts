import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { metricsRegistry } from './metrics.js';

export type ReadinessCheck = () => Promise<void>;

export interface Readiness {
  ready: boolean;
  body: { status: 'ready' | 'not ready'; down: Record<string, string> };
}

/** Runs every check at once; the body names each dependency that did not answer, and why. */
export async function checkReadiness(checks: Record<string, ReadinessCheck>): Promise<Readiness> {
  const names = Object.keys(checks);
  const results = await Promise.allSettled(Object.values(checks).map((check) => check()));
  const down: Record<string, string> = {};
  results.forEach((result, i) => {
    if (result.status === 'rejected') down[names[i]!] = String((result.reason as Error)?.message ?? result.reason);
  });
  const ready = Object.keys(down).length === 0;
  return { ready, body: { status: ready ? 'ready' : 'not ready', down } };
}

export interface OpsServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * `/healthz` (the process is alive), `/readyz` (each dependency this process
 * needs answers; 503 names the ones that do not), `/metrics` (Prometheus).
 */
export async function startOpsServer(options: { host: string; port: number; checks: Record<string, ReadinessCheck> }): Promise<OpsServer> {
  const server: Server = createServer((req, res) => {
    const send = (status: number, body: string, type = 'application/json'): void => {
      res.writeHead(status, { 'content-type': type }).end(body);
    };
    if (req.method !== 'GET') return send(405, JSON.stringify({ error: 'method not allowed' }));
    if (req.url === '/healthz') return send(200, JSON.stringify({ status: 'ok' }));
    if (req.url === '/metrics') {
      metricsRegistry.metrics().then((text) => send(200, text, metricsRegistry.contentType), () => send(500, '{}'));
      return;
    }
    if (req.url === '/readyz') {
      checkReadiness(options.checks).then(({ ready, body }) => send(ready ? 200 : 503, JSON.stringify(body)), () => send(500, '{}'));
      return;
    }
    send(404, JSON.stringify({ error: 'not found' }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
