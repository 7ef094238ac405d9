import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../config/load.js';
import { migrateUp } from '../../connector/db/migrate.js';
import { createPool, type Pool } from '../../connector/db/pool.js';
import { generateSigningSecret } from '../../connector/delivery/signature.js';
import { loadEventCatalog } from '../../connector/events/catalog.js';
import { createKafka, createProducer } from '../../connector/kafka/client.js';
import { createSchemaRegistryClient } from '../../connector/kafka/schema-registry.js';
import { connectorTopics, ensureTopics } from '../../connector/kafka/topics.js';
import { createRootLogger } from '../../connector/observability/logger.js';
import { createSecretBox } from '../../connector/security/encryption.js';
import { insertWebhook } from '../../connector/subscriptions/repository.js';
import { startReceiver, type Receiver } from '../../scripts/lib/receiver.js';
import { produceEvents, registerSchemas, sampleEvent } from '../../scripts/lib/sample-events.js';
import { startAdminApi, type RunningAdminApi } from '../support/admin-api.js';
import { spawnConnector, type ConnectorProcess } from '../support/connector-process.js';
import { forgetWebhookEvents, testEnv, uniqueName } from '../support/harness.js';
import { prometheusBinaries, startPrometheus, type RunningPrometheus } from '../support/prometheus.js';
import { waitFor } from '../support/wait.js';

const RULES = 'ops/prometheus/rules/identity-webhooks.yml';
const DASHBOARD = 'ops/grafana/dashboards/identity-webhooks.json';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Every expression an SRE will look at: dashboard panels, and each side of each alert's condition without its threshold. */
function expressions(): Array<{ where: string; expr: string }> {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Array<{ title: string; targets?: Array<{ expr: string }> }> };
  const rules = parse(readFileSync(RULES, 'utf8')) as { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> };
  // Row panels group the others and query nothing.
  const out = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `panel "${p.title}"`, expr: t.expr })));
  for (const rule of rules.groups.flatMap((g) => g.rules)) {
    for (const side of rule.expr.split(/\s+and\s+/)) out.push({ where: `alert ${rule.alert}`, expr: side.replace(/\s*(>|<|==|!=|>=|<=)\s*[\d.]+\s*$/, '') });
  }
  return out;
}

describe('operations: alert rules and dashboard against a real Prometheus', () => {
  const { prometheus: prometheusBin, promtool } = prometheusBinaries();

  it('the alert rules are valid and every alert passes its promtool unit tests', () => {
    const check = spawnSync(promtool, ['check', 'rules', RULES], { encoding: 'utf8' });
    expect(check.status, check.stdout + check.stderr).toBe(0);
    const test = spawnSync(promtool, ['test', 'rules', 'ops/prometheus/rules/identity-webhooks.test.yml'], { encoding: 'utf8' });
    expect(test.status, test.stdout + test.stderr).toBe(0);
    const rules = parse(readFileSync(RULES, 'utf8')) as { groups: Array<{ rules: Array<{ alert: string; annotations: { runbook?: string } }> }> };
    const tests = readFileSync('ops/prometheus/rules/identity-webhooks.test.yml', 'utf8');
    for (const rule of rules.groups.flatMap((g) => g.rules)) {
      expect(rule.annotations.runbook, rule.alert).toBeTruthy();
      expect(tests, `a unit test for ${rule.alert}`).toContain(`alertname: ${rule.alert}`);
    }
  });

  describe('while events flow through the real connector', () => {
    const services = inject('services');
    let env: Record<string, string>;
    let pool: Pool;
    const organization = uniqueName('org');
    let connector: ConnectorProcess;
    let prometheus: RunningPrometheus;
    let adminApi: RunningAdminApi;
    const receivers: Receiver[] = [];

    /** What an admin does: reads, a create (answered by the receiver's challenge echo), and mistakes the API refuses with 4xx. */
    const adminRequests = async (): Promise<void> => {
      const expect2xx = async (call: Promise<{ status: number; body: unknown }>, what: string): Promise<void> => {
        const { status, body } = await call;
        if (status < 200 || status > 299) throw new Error(`${what}: HTTP ${status} ${JSON.stringify(body)}`);
      };
      await expect2xx(adminApi.call('GET', '/v1/webhooks?limit=10'), 'list webhooks');
      await expect2xx(adminApi.call('GET', '/v1/event-types'), 'event types');
      expect((await adminApi.call('GET', '/v1/webhooks/00000000-0000-4000-8000-000000000000')).status).toBe(404);
      expect((await adminApi.call('POST', '/v1/webhooks', { body: { name: 'bad', url: 'not a url', eventTypes: ['*'] } })).status).toBe(400);
      expect((await adminApi.call('GET', '/v1/webhooks', { token: null })).status).toBe(401);
    };

    beforeAll(async () => {
      const metricsPort = await freePort();
      env = testEnv(services, { SERVER_PORT: String(metricsPort), SERVER_HOST: '127.0.0.1', DELIVERER_RETRY_DELAYS_MS: '500,500,500', DELIVERER_RETRY_JITTER: '0' });
      const config = loadConfig(env);
      const log = createRootLogger({ level: config.log.level });
      await migrateUp(config.database.url, log);
      pool = createPool({ url: config.database.url, max: 2, applicationName: 'test' }, log);
      const kafka = createKafka(config.kafka, log, 'test');
      const { userEvents, groupEvents, authEvents } = config.topics;
      await ensureTopics(kafka, [...connectorTopics(config), ...[userEvents, groupEvents, authEvents].map((topic) => ({ topic, numPartitions: 1 }))], 1);
      const registry = createSchemaRegistryClient(config.schemaRegistry);
      const ids = await registerSchemas(registry, config);
      const box = createSecretBox(config.secrets.encryptionKey);
      // One endpoint per outcome the dashboard shows: success, retry, final failure, gone.
      for (const status of [204, 503, 400, 410]) {
        const receiver = await startReceiver();
        receiver.respondWith(() => ({ status }));
        receivers.push(receiver);
        await insertWebhook(pool, box, { organization, name: `answers-${status}`, url: receiver.url, eventTypes: ['*'], owner: 'test', verified: true, signingSecret: generateSigningSecret() });
      }
      connector = spawnConnector('all', env);
      // The admin API in this process, on the same services; Prometheus scrapes its /metrics like the connector's.
      adminApi = await startAdminApi(config, organization, { log });
      const apiReceiver = await startReceiver();
      receivers.push(apiReceiver);
      const created = await adminApi.call('POST', '/v1/webhooks', { body: { name: 'through-the-api', url: apiReceiver.url, eventTypes: ['user.*'] } });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      prometheus = await startPrometheus(prometheusBin, {
        port: await freePort(),
        jobs: { router: `127.0.0.1:${metricsPort}`, deliverer: `127.0.0.1:${metricsPort}`, 'admin-api': new URL(adminApi.url).host },
        ruleFiles: [`${process.cwd()}/${RULES}`],
      });
      await waitFor('the connector to serve metrics', async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).ok, 60_000);
      // Requests before and after Prometheus's first scrape of the admin API, so its counters have a rate.
      await adminRequests();
      await waitFor('Prometheus to scrape the admin API', async () => (await prometheus.query('up{job="admin-api"} == 1')).length > 0, 30_000, 250);
      await adminRequests();
      const verified = await waitFor('the API-created webhook to be verified by its challenge', async () => {
        const { body } = await adminApi.call('GET', `/v1/webhooks/${(created.body as { webhook: { id: string } }).webhook.id}`);
        return (body as { verification: { status: string } }).verification.status !== 'pending' && (body as { verification: { status: string }; receivingEvents: boolean });
      }, 30_000, 100);
      expect(verified.verification.status).toBe('verified');
      expect(verified.receivingEvents).toBe(true);
      expect(apiReceiver.challenges).toHaveLength(1);
      const catalog = loadEventCatalog();
      await produceEvents(kafka, registry, ids.user, userEvents, Array.from({ length: 20 }, () => sampleEvent(catalog, 'USER_CREATED', organization)));
      const producer = createProducer(kafka);
      await producer.connect();
      await producer.send({ topic: userEvents, messages: [{ value: Buffer.from('not avro') }] });
      await producer.disconnect();
    });

    afterAll(async () => {
      await prometheus?.stop();
      await adminApi?.close();
      connector?.child.kill('SIGTERM');
      await connector?.exited;
      for (const receiver of receivers) await receiver.close();
      // Should the relay have stopped before the connector's last change was relayed (a failed test), none is left for a later file.
      if (pool) await forgetWebhookEvents(pool, organization);
      await pool?.end();
    });

    it('every dashboard panel and alert expression returns data, so no panel is empty and no metric name is misspelled', async () => {
      const all = expressions();
      expect(all.length).toBeGreaterThan(20);
      let empty: string[] = [];
      await waitFor('data for every expression', async () => {
        empty = [];
        for (const { where, expr } of all) {
          // An expression Prometheus refuses is a finding too, not a reason to stop looking.
          const result = await prometheus.query(expr).catch((error: unknown) => error as Error);
          if (result instanceof Error) empty.push(`${where}: ${expr} (refused: ${result.message})`);
          else if (result.length === 0) empty.push(`${where}: ${expr}`);
        }
        return empty.length === 0;
      }, 90_000, 1000).catch(() => undefined);
      expect(empty, `expressions without data:\n${empty.join('\n')}\nconnector output:\n${connector.output().slice(-2000)}`).toEqual([]);
    });

    it('the admin API is scraped with route templates and status classes, 4xx included', async () => {
      await adminRequests();
      const series = await waitFor('admin API request series in Prometheus', async () => {
        const result = (await prometheus.query('sum by (route, method, status_class) (webhooks_admin_requests_total{job="admin-api"})')) as Array<{ metric: Record<string, string> }>;
        return result.some((s) => s.metric['status_class'] === '4xx') && result;
      }, 30_000, 500);
      const labels = series.map((s) => `${s.metric['method']} ${s.metric['route']} ${s.metric['status_class']}`);
      expect(labels).toEqual(expect.arrayContaining(['GET /v1/webhooks 2xx', 'POST /v1/webhooks 2xx', 'GET /v1/webhooks/:id 4xx', 'POST /v1/webhooks 4xx', 'GET /v1/webhooks 4xx']));
      // Route templates only: no label value carries an id.
      for (const label of labels) expect(label).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-/);
    });

    it('stops in order on SIGTERM and exits 0', async () => {
      connector.child.kill('SIGTERM');
      expect(await connector.exited, connector.output().slice(-2000)).toBe(0);
    });
  });
});
