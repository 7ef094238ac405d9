import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { schemaLeaves } from '../../config/load.js';

/**
 * This machine cannot run Docker, so the Docker path is checked for
 * structure: the services exist, wait for each other correctly, and are
 * configured only through variables the connector knows.
 */
interface Service {
  image?: string;
  build?: string;
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }> | string[];
  healthcheck?: { test: string[] };
  volumes?: string[];
}

const compose = parse(readFileSync('docker-compose.yml', 'utf8'), { merge: true }) as { services: Record<string, Service> };
const services = compose.services;
const knownEnv = new Set(schemaLeaves().map(({ spec }) => spec.env));
const connectorServices = ['migrate', 'router', 'deliverer', 'admin-api'];

describe('docker-compose.yml', () => {
  it('has the whole system', () => {
    for (const name of ['kafka', 'schema-registry', 'postgres', ...connectorServices, 'prometheus', 'grafana']) expect(services[name], name).toBeDefined();
    expect(services['kafka']!.image).toMatch(/^apache\/kafka:3\.9/);
    expect(services['schema-registry']!.image).toMatch(/^apicurio\/apicurio-registry:3/);
  });

  it('configures the connector only through variables its config schema knows, with the secret required', () => {
    for (const name of connectorServices) {
      const env = services[name]!.environment ?? {};
      for (const key of Object.keys(env)) expect(knownEnv.has(key), `${name}: ${key}`).toBe(true);
      expect(env['SECRETS_ENCRYPTION_KEY'], name).toMatch(/\$\{SECRETS_ENCRYPTION_KEY:\?/);
      expect(env['SCHEMA_REGISTRY_URL'], name).toContain('/apis/ccompat/v7');
    }
  });

  it('starts the connector only after healthy dependencies and a finished migration', () => {
    for (const name of ['router', 'deliverer', 'admin-api']) {
      const deps = services[name]!.depends_on as Record<string, { condition: string }>;
      expect(deps['kafka']?.condition, name).toBe('service_healthy');
      expect(deps['schema-registry']?.condition, name).toBe('service_healthy');
      expect(deps['postgres']?.condition, name).toBe('service_healthy');
      expect(deps['migrate']?.condition, name).toBe('service_completed_successfully');
    }
    expect(services['migrate']!.command).toEqual(['migrate']);
    expect(services['router']!.command).toEqual(['router']);
    expect(services['deliverer']!.command).toEqual(['deliverer']);
    for (const name of ['kafka', 'schema-registry', 'postgres']) expect(services[name]!.healthcheck?.test.length, name).toBeGreaterThan(0);
  });

  it('mounts files that exist in the repository', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const volume of service.volumes ?? []) {
        const host = volume.split(':')[0]!;
        if (host.startsWith('./')) expect(existsSync(host), `${name}: ${host}`).toBe(true);
      }
    }
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync('Dockerfile', 'utf8');

  it('builds on a Node LTS image and runs as a non-root user', () => {
    const bases = [...dockerfile.matchAll(/^FROM node:(\d+)/gm)].map((m) => Number(m[1]));
    expect(bases.length).toBeGreaterThan(0);
    for (const major of bases) expect(major >= 22 && major % 2 === 0, `node:${major}`).toBe(true);
    expect(dockerfile).toMatch(/^USER node$/m);
  });

  it('ships the schemas, the catalog and the migrations the compiled code reads at run time', () => {
    expect(dockerfile).toContain('cp schemas/*.json dist/schemas/');
    expect(dockerfile).toContain('cp schemas/avro/*.avsc dist/schemas/avro/');
    expect(dockerfile).toContain('cp connector/db/migrations/*.sql dist/connector/db/migrations/');
    expect(dockerfile).toContain('dist/connector/main.js');
  });
});

describe('ops/prometheus/prometheus.yml', () => {
  it('scrapes every connector process', () => {
    const prometheus = parse(readFileSync('ops/prometheus/prometheus.yml', 'utf8')) as { scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }> };
    const jobs = Object.fromEntries(prometheus.scrape_configs.map((c) => [c.job_name, c.static_configs[0]!.targets[0]]));
    expect(jobs).toEqual({ router: 'router:9464', deliverer: 'deliverer:9464', 'admin-api': 'admin-api:8080' });
  });
});
