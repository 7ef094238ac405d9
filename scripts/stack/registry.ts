import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { APICURIO_VERSION, type StackOptions } from './options.js';
import { fetchApicurio } from './maven.js';
import { spawnDetached, stopProcess } from './processes.js';
import type { StackService } from './service.js';

/** Apicurio Registry (in-memory storage) serving the Confluent-compatible API at /apis/ccompat/v7. */
export function registryService(options: StackOptions): StackService {
  const logFile = join(options.stateDir, 'logs', 'registry.log');
  const jarName = `apicurio-registry-app-${APICURIO_VERSION}-runner.jar`;
  let home = '';
  const url = `http://127.0.0.1:${options.registryPort}/apis/ccompat/v7`;
  return {
    name: 'registry',
    port: options.registryPort,
    portEnv: 'STACK_REGISTRY_PORT',
    address: url,
    logFile,
    marker: `-Dquarkus.http.port=${options.registryPort}`,
    prepare(log) {
      home = fetchApicurio(options.cacheDir, log);
      mkdirSync(join(options.stateDir, 'logs'), { recursive: true });
    },
    start() {
      return spawnDetached('java', ['-Xmx384m', `-Dquarkus.http.port=${options.registryPort}`, '-Dquarkus.http.host=127.0.0.1', '-jar', join(home, jarName)], { cwd: home, logFile });
    },
    async healthy() {
      try {
        const response = await fetch(`${url}/subjects`, { signal: AbortSignal.timeout(2000) });
        return response.ok;
      } catch {
        return false;
      }
    },
    stop: (pid) => stopProcess(pid, `-Dquarkus.http.port=${options.registryPort}`),
  };
}
