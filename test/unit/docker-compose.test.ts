import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig, schemaLeaves } from '../../config/load.js';

/**
 * This machine cannot run Docker, so the Docker path is checked for
 * structure: the services exist, wait for each other correctly, are
 * configured only through variables the connector knows (with values it
 * accepts), mount files that exist, and the image ships what the compiled
 * code reads at run time.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  entrypoint?: string[];
  restart?: string;
  environment?: Record<string, string | number | boolean | null> | string[];
  depends_on?: Record<string, { condition?: string }> | string[];
  healthcheck?: { test?: string[] | string };
  volumes?: Array<string | { type?: string; source?: string; target?: string }>;
  ports?: Array<string | number>;
  stop_grace_period?: string;
}

const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service>; volumes?: Record<string, unknown> };
const services = compose.services;
const service = (name: string): Service => {
  const found = services[name];
  if (!found) throw new Error(`docker-compose.yml has no service ${name}`);
  return found;
};

/** Compose allows a map or a KEY=value list; both become a map. */
function environmentOf(s: Service): Record<string, string> {
  const env = s.environment ?? {};
  if (Array.isArray(env)) return Object.fromEntries(env.map((entry) => [entry.split('=')[0]!, entry.slice(entry.indexOf('=') + 1)]));
  return Object.fromEntries(Object.entries(env).map(([key, value]) => [key, String(value ?? '')]));
}

/** Bind mounts of a service as host path (relative to the repo) → container path. */
function bindMounts(s: Service): Array<{ host: string; container: string }> {
  const mounts: Array<{ host: string; container: string }> = [];
  for (const volume of s.volumes ?? []) {
    const [source, target] = typeof volume === 'string' ? volume.split(':') : [volume.source, volume.target];
    if (source && target && (source.startsWith('./') || source.startsWith('../'))) mounts.push({ host: posix.normalize(source), container: target });
  }
  return mounts;
}

/** The host file or folder a container path of a service comes from, if it is bind-mounted. */
function hostPathOf(s: Service, containerPath: string): string | undefined {
  for (const { host, container } of bindMounts(s)) {
    if (containerPath === container) return host;
    if (containerPath.startsWith(`${container}/`)) return posix.join(host, containerPath.slice(container.length + 1));
  }
  return undefined;
}

/** Files of the repo matching a path whose last segment may hold `*` (the only glob used here). */
function expandGlob(pattern: string): string[] {
  const dir = posix.dirname(pattern);
  const name = posix.basename(pattern);
  if (!name.includes('*')) return existsSync(join(ROOT, pattern)) ? [pattern] : [];
  if (!existsSync(join(ROOT, dir))) return [];
  const regex = new RegExp(`^${name.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`);
  return readdirSync(join(ROOT, dir))
    .filter((file) => regex.test(file))
    .map((file) => posix.join(dir, file));
}

/** The TypeScript sources under a folder of the repo, recursively. */
function typeScriptFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((entry) => {
    const path = posix.join(dir, entry);
    if (statSync(join(ROOT, path)).isDirectory()) return typeScriptFiles(path);
    return path.endsWith('.ts') && !path.endsWith('.d.ts') ? [path] : [];
  });
}

/** What `docker compose` does to `${VAR}`, `${VAR:-default}` and `${VAR:?error}`. */
function interpolate(value: string, variables: Record<string, string>): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g, (_match, name: string, operator: string | undefined, argument: string) => {
    const set = variables[name];
    if (set !== undefined && set !== '') return set;
    if (operator?.endsWith('?')) throw new Error(`${name}: ${argument}`);
    return operator?.endsWith('-') ? argument : '';
  });
}

const knownEnv = new Set(schemaLeaves().map(({ spec }) => spec.env));
const connectorServices = ['migrate', 'router', 'deliverer', 'sink', 'admin-api'];
const longRunningConnectors = ['router', 'deliverer', 'sink', 'admin-api'];
const testKey = randomBytes(32).toString('base64');

describe('docker-compose.yml', () => {
  it('publishes every port on 127.0.0.1 only: Kafka has no authentication and Postgres the default password', () => {
    const published = Object.entries(compose.services).flatMap(([name, svc]) => (svc.ports ?? []).map((port) => [name, String(port)]));
    expect(published.length).toBeGreaterThan(0);
    for (const [name, port] of published) expect(port, name).toMatch(/^127\.0\.0\.1:/);
  });


  it('has the whole system, on pinned images', () => {
    for (const name of ['kafka', 'schema-registry', 'postgres', ...connectorServices, 'prometheus', 'grafana']) expect(services[name], name).toBeDefined();
    expect(service('kafka').image).toMatch(/^apache\/kafka:3\.9\.\d+$/);
    expect(service('schema-registry').image).toMatch(/^apicurio\/apicurio-registry:3\.\d+\.\d+$/);
    expect(service('postgres').image).toMatch(/^postgres:18(\.|$)/);
    expect(service('prometheus').image).toMatch(/^prom\/prometheus:v\d+\.\d+\.\d+$/);
    expect(service('grafana').image).toMatch(/^grafana\/grafana:\d+\.\d+\.\d+$/);
  });

  it('runs every connector process from the image built here, and nothing else from it', () => {
    const built = Object.entries(services)
      .filter(([, s]) => s.build !== undefined)
      .map(([name]) => name)
      .sort();
    expect(built).toEqual([...connectorServices].sort());
    const images = new Set(connectorServices.map((name) => service(name).image));
    expect(images.size, 'one image for all connector services').toBe(1);
  });

  it('configures the connector only through variables its config schema knows, with the secret required', () => {
    for (const name of connectorServices) {
      const env = environmentOf(service(name));
      expect(Object.keys(env).length, name).toBeGreaterThan(0);
      for (const key of Object.keys(env)) expect(knownEnv.has(key), `${name}: ${key} is not in config/schema.ts`).toBe(true);
      expect(env['SECRETS_ENCRYPTION_KEY'], name).toMatch(/^\$\{SECRETS_ENCRYPTION_KEY:\?[^}]+\}$/);
      expect(() => interpolate(env['SECRETS_ENCRYPTION_KEY']!, {}), `${name}: compose must refuse to start without the key`).toThrow();
    }
  });

  it('gives the connector values it accepts, pointing at the services of this file', () => {
    const postgresEnv = environmentOf(service('postgres'));
    for (const name of connectorServices) {
      const env = environmentOf(service(name));
      const resolved = Object.fromEntries(Object.entries(env).map(([key, value]) => [key, interpolate(value, { SECRETS_ENCRYPTION_KEY: testKey })]));
      const config = loadConfig(resolved);
      expect(config.kafka.brokers, name).toEqual(['kafka:9092']);
      expect(config.schemaRegistry.url, name).toBe('http://schema-registry:8080/apis/ccompat/v7');
      const database = new URL(config.database.url);
      expect(database.hostname, name).toBe('postgres');
      expect(database.pathname, name).toBe(`/${postgresEnv['POSTGRES_DB']}`);
      expect(decodeURIComponent(database.password), name).toBe(postgresEnv['POSTGRES_PASSWORD']);
      expect(config.topics.replicationFactor, `${name}: one broker, one replica`).toBe(1);
    }
  });

  it('starts the connector only after healthy dependencies and a finished migration', () => {
    for (const name of longRunningConnectors) {
      const deps = service(name).depends_on;
      expect(Array.isArray(deps), `${name}: depends_on needs conditions`).toBe(false);
      const conditions = deps as Record<string, { condition?: string }>;
      expect(conditions['kafka']?.condition, name).toBe('service_healthy');
      expect(conditions['schema-registry']?.condition, name).toBe('service_healthy');
      expect(conditions['postgres']?.condition, name).toBe('service_healthy');
      expect(conditions['migrate']?.condition, name).toBe('service_completed_successfully');
    }
    const migrateDeps = service('migrate').depends_on as Record<string, { condition?: string }>;
    expect(migrateDeps['postgres']?.condition).toBe('service_healthy');
    expect(service('schema-registry').depends_on).toMatchObject({ postgres: { condition: 'service_healthy' } });
    // A one-shot that restarts after exiting 0 never counts as completed.
    expect(service('migrate').restart ?? 'no').toBe('no');
  });

  it('runs each process with its command', () => {
    expect(service('migrate').command).toEqual(['migrate']);
    expect(service('router').command).toEqual(['router']);
    expect(service('deliverer').command).toEqual(['deliverer']);
    expect(service('sink').command).toEqual(['sink']);
    expect(service('admin-api').entrypoint).toEqual(['node', 'dist/admin-api/main.js']);
    for (const name of ['migrate', 'router', 'deliverer', 'sink']) expect(service(name).entrypoint, `${name} uses the image entrypoint`).toBeUndefined();
    expect(environmentOf(service('admin-api'))['SERVER_PORT']).toBe('8080');
    expect(service('admin-api').ports).toContain('127.0.0.1:8080:8080');
  });

  it('lets every long-running connector process finish its ordered stop before Docker kills it', () => {
    const seconds = (period: string | undefined): number => {
      const match = /^(\d+)s$/.exec(period ?? '');
      return match ? Number(match[1]) : 10;
    };
    for (const name of longRunningConnectors) {
      const timeoutMs = loadConfig({ ...environmentOf(service(name)), SECRETS_ENCRYPTION_KEY: testKey }).shutdown.timeoutMs;
      expect(seconds(service(name).stop_grace_period) * 1000, name).toBeGreaterThanOrEqual(timeoutMs + 5000);
    }
  });

  it('checks the health of Kafka, the registry and Postgres', () => {
    for (const name of ['kafka', 'schema-registry', 'postgres']) {
      const test = service(name).healthcheck?.test;
      expect(Array.isArray(test) ? test.length : (test ?? '').length, name).toBeGreaterThan(0);
    }
    expect(JSON.stringify(service('kafka').healthcheck?.test)).toContain('localhost:9092');
    expect(JSON.stringify(service('schema-registry').healthcheck?.test)).toContain('localhost:8080/apis/ccompat/v7');
    expect(JSON.stringify(service('postgres').healthcheck?.test)).toContain('pg_isready');
  });

  it('lets containers reach Kafka at kafka:9092 and the host at localhost:9094', () => {
    const env = environmentOf(service('kafka'));
    expect(env['KAFKA_PROCESS_ROLES']).toBe('broker,controller');
    const advertised = (env['KAFKA_ADVERTISED_LISTENERS'] ?? '').split(',');
    expect(advertised).toContain('PLAINTEXT://kafka:9092');
    expect(advertised.some((l) => l.endsWith('://localhost:9094'))).toBe(true);
    expect(service('kafka').ports).toContain('127.0.0.1:9094:9094');
    expect(service('schema-registry').ports).toContain('127.0.0.1:8081:8080');
    expect(environmentOf(service('postgres'))['POSTGRES_DB']).toBe('webhooks');
  });

  it('declares the named volumes it uses', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const volume of s.volumes ?? []) {
        const source = typeof volume === 'string' ? volume.split(':')[0]! : (volume.source ?? '');
        if (source === '' || source.startsWith('.') || source.startsWith('/')) continue;
        expect(compose.volumes ?? {}, `${name}: volume ${source}`).toHaveProperty(source);
      }
    }
    expect(service('postgres').volumes?.some((v) => typeof v === 'string' && /^[\w-]+:\/var\/lib\/postgresql$/.test(v))).toBe(true);
  });

  it('mounts files that exist in the repository', () => {
    const mounted = Object.entries(services).flatMap(([name, s]) => bindMounts(s).map((m) => ({ name, ...m })));
    expect(mounted.map((m) => m.host).sort()).toEqual(
      ['ops/grafana/dashboards', 'ops/grafana/provisioning', 'ops/prometheus/prometheus.yml', 'ops/prometheus/rules'].sort(),
    );
    for (const { name, host } of mounted) expect(existsSync(join(ROOT, host)), `${name}: ${host}`).toBe(true);
  });
});

describe('Grafana', () => {
  const grafana = service('grafana');
  const env = environmentOf(grafana);
  const provisioning = (kind: string): Array<Record<string, unknown>> =>
    readdirSync(join(ROOT, 'ops/grafana/provisioning', kind))
      .filter((file) => /\.ya?ml$/.test(file))
      .map((file) => parse(read(`ops/grafana/provisioning/${kind}/${file}`)) as Record<string, unknown>);

  it('lets anyone view, not edit, without logging in', () => {
    expect(env['GF_AUTH_ANONYMOUS_ENABLED']).toBe('true');
    expect(env['GF_AUTH_ANONYMOUS_ORG_ROLE']).toBe('Viewer');
    expect(hostPathOf(grafana, '/etc/grafana/provisioning')).toBe('ops/grafana/provisioning');
  });

  it('reads Prometheus of this compose file', () => {
    const datasources = provisioning('datasources').flatMap((file) => (file['datasources'] ?? []) as Array<{ type: string; url: string; uid?: string }>);
    const prometheus = datasources.filter((d) => d.type === 'prometheus');
    expect(prometheus.length).toBe(1);
    expect(prometheus[0]!.url).toBe('http://prometheus:9090');
    expect(service('prometheus').ports).toContain('127.0.0.1:9090:9090');
  });

  it('loads the dashboards folder the compose file mounts, and the home dashboard exists', () => {
    const providers = provisioning('dashboards').flatMap((file) => (file['providers'] ?? []) as Array<{ type: string; options: { path: string } }>);
    expect(providers.length).toBeGreaterThan(0);
    for (const provider of providers) {
      expect(provider.type).toBe('file');
      expect(hostPathOf(grafana, provider.options.path), provider.options.path).toBe('ops/grafana/dashboards');
    }
    const home = env['GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH'];
    expect(home, 'GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH').toBeDefined();
    const host = hostPathOf(grafana, home!);
    expect(host, home).toBeDefined();
    expect(existsSync(join(ROOT, host!)), home).toBe(true);
  });

  it('dashboards only refer to provisioned data sources', () => {
    const uids = new Set(provisioning('datasources').flatMap((file) => ((file['datasources'] ?? []) as Array<{ uid?: string }>).map((d) => d.uid)));
    const dashboards = readdirSync(join(ROOT, 'ops/grafana/dashboards')).filter((file) => file.endsWith('.json'));
    for (const file of dashboards) {
      const referenced = new Set<string>();
      const walk = (node: unknown): void => {
        if (Array.isArray(node)) node.forEach(walk);
        else if (node && typeof node === 'object') {
          for (const [key, value] of Object.entries(node)) {
            if (key === 'datasource' && value && typeof value === 'object' && typeof (value as { uid?: unknown }).uid === 'string') referenced.add((value as { uid: string }).uid);
            else walk(value);
          }
        }
      };
      walk(JSON.parse(read(`ops/grafana/dashboards/${file}`)));
      for (const uid of referenced) if (!uid.startsWith('$') && !uid.startsWith('-- ')) expect(uids.has(uid), `${file}: datasource ${uid}`).toBe(true);
    }
  });
});

describe('ops/prometheus/prometheus.yml', () => {
  const prometheus = parse(read('ops/prometheus/prometheus.yml')) as {
    rule_files?: string[];
    scrape_configs: Array<{ job_name: string; metrics_path?: string; static_configs: Array<{ targets: string[] }> }>;
  };
  const prometheusService = service('prometheus');

  it('is the file the compose file mounts', () => {
    expect(hostPathOf(prometheusService, '/etc/prometheus/prometheus.yml')).toBe('ops/prometheus/prometheus.yml');
  });

  it('scrapes every connector process on the port it serves /metrics on', () => {
    const jobs = Object.fromEntries(prometheus.scrape_configs.map((c) => [c.job_name, c.static_configs.flatMap((s) => s.targets)]));
    expect(jobs).toEqual({ router: ['router:9464'], deliverer: ['deliverer:9464'], sink: ['sink:9464'], 'admin-api': ['admin-api:8080'] });
    for (const config of prometheus.scrape_configs) {
      expect(config.metrics_path ?? '/metrics', config.job_name).toBe('/metrics');
      const [host, port] = config.static_configs[0]!.targets[0]!.split(':');
      expect(environmentOf(service(host!))['SERVER_PORT'], `${host} serves on the port Prometheus scrapes`).toBe(port);
    }
  });

  it('loads rule files that exist and are rule files (promtool test files would stop Prometheus)', () => {
    expect(prometheus.rule_files?.length).toBeGreaterThan(0);
    for (const pattern of prometheus.rule_files ?? []) {
      expect(pattern.startsWith('/etc/prometheus/rules/'), pattern).toBe(true);
      const host = hostPathOf(prometheusService, pattern);
      expect(host, `${pattern} is not mounted`).toBeDefined();
      const files = expandGlob(host!);
      expect(files.length, `${pattern} matches no file`).toBeGreaterThan(0);
      for (const file of files) {
        const content = parse(read(file)) as Record<string, unknown>;
        expect(Object.keys(content), file).toEqual(['groups']);
        expect(Array.isArray(content['groups']), file).toBe(true);
      }
    }
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile').replace(/\\\n/g, ' ');
  const lines = dockerfile.split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'));
  const stages: string[][] = [];
  for (const line of lines) {
    if (/^FROM\s/i.test(line)) stages.push([line]);
    else stages.at(-1)?.push(line);
  }
  const runtime = stages.at(-1) ?? [];
  const build = stages.slice(0, -1).flat();

  it('is a multi-stage build on a Node LTS image (even major, 22 or newer)', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of stages) {
      const match = /^FROM\s+node:(\d+)[-.\w]*(\s+AS\s+\w+)?$/i.exec(stage[0]!);
      expect(match, stage[0]).not.toBeNull();
      const major = Number(match![1]);
      expect(major >= 22 && major % 2 === 0, `node:${major} is not an LTS line`).toBe(true);
    }
  });

  it('runs as a non-root user with only production dependencies', () => {
    const users = runtime.filter((line) => /^USER\s/i.test(line));
    expect(users.length, 'the final stage sets USER').toBeGreaterThan(0);
    expect(users.at(-1)).not.toMatch(/^USER\s+(root|0)(:|$)/i);
    expect(runtime.some((line) => /^RUN\s.*npm ci\b.*--omit=dev/.test(line)), 'npm ci --omit=dev in the final stage').toBe(true);
    expect(runtime.some((line) => /^COPY\s.*--from=/.test(line)), 'the final stage takes the build output').toBe(true);
  });

  it('starts the connector and checks its /healthz on SERVER_PORT', () => {
    expect(runtime.find((line) => /^ENTRYPOINT\s/.test(line))).toContain('dist/connector/main.js');
    const healthcheck = runtime.find((line) => /^HEALTHCHECK\s/.test(line)) ?? '';
    expect(healthcheck).toContain('/healthz');
    expect(healthcheck).toContain('SERVER_PORT');
    expect(healthcheck).toContain('9464');
  });

  it('ships the schemas, the catalog and the migrations where the compiled code reads them', () => {
    // Every file the code opens relative to itself (new URL('…', import.meta.url)), placed under dist/.
    const sourceFiles = ['config', 'connector', 'admin-api', 'schemas'].flatMap(typeScriptFiles);
    const needed: Array<{ from: string; source: string; dist: string }> = [];
    for (const file of sourceFiles) {
      for (const match of read(file).matchAll(/new URL\(\s*[`'"]([^`'"]+)[`'"]\s*,\s*import\.meta\.url\s*\)/g)) {
        const relative = match[1]!.replace(/\$\{[^}]*\}[^/]*$/, '*');
        if (relative.endsWith('.js')) continue;
        const source = posix.join(posix.dirname(file), relative);
        const sources = existsSync(join(ROOT, source)) && statSync(join(ROOT, source)).isDirectory()
          ? readdirSync(join(ROOT, source)).map((entry) => posix.join(source, entry))
          : expandGlob(source);
        expect(sources.length, `${file} reads ${relative}, which matches nothing`).toBeGreaterThan(0);
        // TypeScript sources next to the data are compiled by tsc, not copied.
        for (const s of sources.filter((path) => !path.endsWith('.ts'))) needed.push({ from: file, source: s, dist: posix.join('dist', s) });
      }
    }
    expect(needed.map((n) => n.source)).toEqual(expect.arrayContaining(['schemas/event-catalog.json', 'schemas/avro/identity-user-event.avsc']));
    expect(needed.some((n) => n.source.startsWith('connector/db/migrations/'))).toBe(true);

    // What the build stage's `cp <glob> <dir>/` commands put under dist/, `npm run build` included.
    const buildScript = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts['build'] ?? '';
    const copied = new Set<string>();
    for (const line of build.filter((l) => l.startsWith('RUN '))) {
      for (const command of line.slice(4).replace(/\bnpm run build\b/, buildScript).split('&&')) {
        const words = command.trim().split(/\s+/);
        if (words[0] !== 'cp' || words.length !== 3) continue;
        for (const file of expandGlob(words[1]!)) copied.add(posix.join(words[2]!, basename(file)));
      }
    }
    for (const { from, source, dist } of needed) expect(copied.has(dist), `${from} reads ${source} from ${dist} at run time`).toBe(true);

    // The folders those copies come from are in the build stage.
    for (const top of new Set(needed.map((n) => n.source.split('/')[0]!))) {
      expect(build.some((l) => new RegExp(`^COPY\\s+${top}\\s`).test(l)), `COPY ${top}`).toBe(true);
    }
  });

  it('sends the builder everything it copies (.dockerignore)', () => {
    const ignored = read('.dockerignore').split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'));
    const copiedFromContext = lines.filter((l) => /^COPY\s/.test(l) && !/--from=/.test(l)).flatMap((l) => l.split(/\s+/).slice(1, -1));
    expect(copiedFromContext).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'connector', 'schemas']));
    for (const path of copiedFromContext) {
      for (const pattern of ignored) expect(path === pattern || path.startsWith(`${pattern}/`), `${path} is excluded by ${pattern}`).toBe(false);
    }
  });
});
