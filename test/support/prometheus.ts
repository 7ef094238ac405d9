import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where Prometheus's binaries are: PROMETHEUS_BIN / PROMTOOL_BIN, else the PATH (Debian's `prometheus` package). */
export function prometheusBinaries(): { prometheus: string; promtool: string } {
  const prometheus = process.env['PROMETHEUS_BIN'] ?? 'prometheus';
  const promtool = process.env['PROMTOOL_BIN'] ?? 'promtool';
  for (const bin of [prometheus, promtool]) {
    if (spawnSync(bin, ['--version']).status !== 0) {
      throw new Error(`${bin} not found: install Prometheus (Debian: apt-get install prometheus) or set PROMETHEUS_BIN and PROMTOOL_BIN`);
    }
  }
  return { prometheus, promtool };
}

export interface RunningPrometheus {
  url: string;
  query(expr: string): Promise<unknown[]>;
  stop(): Promise<void>;
}

/** A real Prometheus on 127.0.0.1 scraping `targets` every second, with the given rule files. */
export async function startPrometheus(binary: string, options: { port: number; jobs: Record<string, string>; ruleFiles: string[] }): Promise<RunningPrometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'prometheus-'));
  const config = [
    'global: { scrape_interval: 1s, evaluation_interval: 1s }',
    `rule_files: [${options.ruleFiles.map((f) => JSON.stringify(f)).join(', ')}]`,
    'scrape_configs:',
    ...Object.entries(options.jobs).map(([job, target]) => `  - { job_name: ${job}, static_configs: [{ targets: ["${target}"] }] }`),
  ].join('\n');
  writeFileSync(join(dir, 'prometheus.yml'), config);
  const child: ChildProcess = spawn(binary, [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${options.port}`], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${options.port}`;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`${url}/-/ready`)).ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    async query(expr) {
      const response = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = (await response.json()) as { status: string; error?: string; data?: { result: unknown[] } };
      if (body.status !== 'success') throw new Error(`query failed: ${expr}: ${body.error}`);
      return body.data!.result;
    },
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}
