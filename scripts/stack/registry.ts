import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { httpHealthy } from './health.js';
import { apicurioHome, apicurioJar, fetchApicurio } from './maven.js';
import type { StackOptions } from './options.js';
import { spawnDetached, stopProcess } from './processes.js';
import type { StackService } from './service.js';

/**
 * Apicurio Registry serving the Confluent-compatible API at /apis/ccompat/v7.
 * Its storage is an H2 file under STACK_DIR rather than the default in-memory
 * database: Kafka keeps its records across restarts, and those records carry
 * schema ids that a registry restarting empty would hand out again for other
 * schemas.
 */
export function registryService(options: StackOptions): StackService {
  const home = join(options.stateDir, 'registry');
  const logFile = join(options.stateDir, 'logs', 'registry.log');
  const url = `http://127.0.0.1:${options.registryPort}/apis/ccompat/v7`;
  // The datasource argument names this STACK_DIR, so it doubles as the marker.
  const datasource = `-Dapicurio.datasource.url=jdbc:h2:file:${join(home, 'registry')}`;
  return {
    name: 'registry',
    ports: [{ port: options.registryPort, env: 'STACK_REGISTRY_PORT' }],
    address: url,
    logFile,
    marker: datasource,
    // The first version of this script launched it with only the port to tell it apart.
    olderMarkers: [`-Dquarkus.http.port=${options.registryPort}`],
    needsJava: true,
    downloaded: () => existsSync(apicurioJar(options.cacheDir)),
    async prepare(log) {
      await fetchApicurio(options.cacheDir, log);
      mkdirSync(home, { recursive: true });
    },
    start: () =>
      spawnDetached(
        'java',
        [
          '-Xmx384m',
          // C1 only: starts in half the time (~3 s instead of ~7 s on 2 cores); a test registry never needs C2's peak speed.
          '-XX:TieredStopAtLevel=1',
          `-Dquarkus.http.port=${options.registryPort}`,
          '-Dquarkus.http.host=127.0.0.1',
          // One log line per request would bury everything else in the log.
          '-Dquarkus.http.access-log.enabled=false',
          datasource,
          '-jar',
          apicurioJar(options.cacheDir),
        ],
        { cwd: apicurioHome(options.cacheDir), logFile },
      ),
    healthy: () => httpHealthy(`${url}/subjects`),
    stop: (pid) => stopProcess(pid, [datasource, `-Dquarkus.http.port=${options.registryPort}`]),
  };
}
