import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A real Prometheus server (Debian's `prometheus` package, or PROMETHEUS_BIN)
 * on 127.0.0.1, for the demo and the operations tests.
 */

/** The Prometheus binary to run (PROMETHEUS_BIN, else `prometheus` on the PATH), or null when it does not start. */
export function findPrometheus(env: NodeJS.ProcessEnv = process.env): string | null {
  const binary = env['PROMETHEUS_BIN'] || 'prometheus';
  return spawnSync(binary, ['--version'], { stdio: 'ignore' }).status === 0 ? binary : null;
}

export interface PrometheusOptions {
  port: number;
  /** Scrape job name → host:port (each scraped at /metrics). */
  jobs: Record<string, string>;
  /** Absolute paths of rule files to load. */
  ruleFiles: string[];
  /** Scrape and rule evaluation interval; default 1s. */
  interval?: string;
  /** Where its output goes; default nowhere. */
  logFile?: string;
  /** How long to wait for /-/ready; default 30 s. */
  readyTimeoutMs?: number;
  /**
   * Run it in its own process group, so a Ctrl-C in the terminal reaches only
   * the caller, which stops it in its turn (then the caller must stop it
   * whatever happens). Default false.
   */
  detached?: boolean;
}

export interface RunningPrometheus {
  url: string;
  pid: number;
  /** An instant query; the result vector (empty when there is no data). */
  query(expr: string): Promise<unknown[]>;
  /** SIGTERM, wait for the exit, delete its data. */
  stop(): Promise<void>;
}

export function prometheusConfig(options: Pick<PrometheusOptions, 'jobs' | 'ruleFiles' | 'interval'>): string {
  const interval = options.interval ?? '1s';
  return [
    `global: { scrape_interval: ${interval}, evaluation_interval: ${interval} }`,
    `rule_files: [${options.ruleFiles.map((f) => JSON.stringify(f)).join(', ')}]`,
    'scrape_configs:',
    ...Object.entries(options.jobs).map(([job, target]) => `  - { job_name: ${JSON.stringify(job)}, static_configs: [{ targets: [${JSON.stringify(target)}] }] }`),
  ].join('\n');
}

/** Starts Prometheus and resolves once it is ready; fails with the reason when it exits or never gets ready. */
export async function startPrometheus(binary: string, options: PrometheusOptions): Promise<RunningPrometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'prometheus-'));
  writeFileSync(join(dir, 'prometheus.yml'), prometheusConfig(options));
  const out = options.logFile ? openSync(options.logFile, 'a') : 'ignore';
  const child: ChildProcess = spawn(
    binary,
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${options.port}`],
    { stdio: ['ignore', out, out], detached: options.detached ?? false },
  );
  if (typeof out === 'number') closeSync(out);
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  let gone: number | string | undefined;
  void exited.then((how) => (gone = how));
  const cleanUp = (): void => rmSync(dir, { recursive: true, force: true });
  const url = `http://127.0.0.1:${options.port}`;
  const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
  for (;;) {
    if (gone !== undefined) {
      cleanUp();
      throw new Error(`prometheus exited during start-up (${gone})${options.logFile ? `; see ${options.logFile}` : ''}`);
    }
    try {
      if ((await fetch(`${url}/-/ready`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      await exited;
      cleanUp();
      throw new Error(`prometheus did not get ready at ${url}${options.logFile ? `; see ${options.logFile}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    pid: child.pid!,
    async query(expr) {
      const response = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = (await response.json()) as { status: string; error?: string; data?: { result: unknown[] } };
      if (body.status !== 'success') throw new Error(`query failed: ${expr}: ${body.error}`);
      return body.data!.result;
    },
    async stop() {
      if (gone === undefined) {
        child.kill('SIGTERM');
        await exited;
      }
      cleanUp();
    },
  };
}
