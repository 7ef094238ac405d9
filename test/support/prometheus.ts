import { spawnSync } from 'node:child_process';

export { startPrometheus, type RunningPrometheus } from '../../scripts/lib/prometheus.js';

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
