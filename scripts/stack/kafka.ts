import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kafkaHealthy } from './health.js';
import { fetchKafka, kafkaLibs } from './maven.js';
import type { StackOptions } from './options.js';
import { run, spawnDetached, stopProcess } from './processes.js';
import type { StackService } from './service.js';

/**
 * A cluster id in Kafka's own format: 16 random bytes, URL-safe base64
 * without padding, never starting with '-' (as Kafka's Uuid.randomUuid
 * ensures): the storage tool would read such an id as an option and refuse
 * to format, one time in 64.
 */
export function newClusterId(random: (size: number) => Buffer = randomBytes): string {
  for (;;) {
    const id = random(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/** Apache Kafka from its Maven jars: one KRaft node (broker + controller), heap capped for a laptop. */
export function kafkaService(options: StackOptions): StackService {
  const home = join(options.stateDir, 'kafka');
  const dataDir = join(home, 'data');
  const config = join(home, 'server.properties');
  const log4j = join(home, 'log4j.properties');
  const logFile = join(options.stateDir, 'logs', 'kafka.log');
  const address = `127.0.0.1:${options.kafkaPort}`;
  const libs = kafkaLibs(options.cacheDir);
  // The classpath wildcard is expanded by java itself, not by a shell.
  const javaArgs = (mainClass: string, args: string[]): string[] => ['-cp', `${libs}/*`, `-Dlog4j.configuration=file:${log4j}`, mainClass, ...args];

  return {
    name: 'kafka',
    ports: [
      { port: options.kafkaPort, env: 'STACK_KAFKA_PORT' },
      { port: options.kafkaControllerPort, env: 'STACK_KAFKA_CONTROLLER_PORT', what: 'kafka controller' },
    ],
    address,
    logFile,
    // The config path is an argument of the broker's command line and unique to this STACK_DIR.
    marker: config,
    needsJava: true,
    downloaded: () => existsSync(libs),
    async prepare(log) {
      await fetchKafka(options.cacheDir, log);
      mkdirSync(home, { recursive: true });
      // Rewritten on every start so changed ports take effect; the data stays.
      writeFileSync(
        config,
        [
          'process.roles=broker,controller',
          'node.id=1',
          `controller.quorum.voters=1@127.0.0.1:${options.kafkaControllerPort}`,
          `listeners=PLAINTEXT://127.0.0.1:${options.kafkaPort},CONTROLLER://127.0.0.1:${options.kafkaControllerPort}`,
          `advertised.listeners=PLAINTEXT://${address}`,
          'controller.listener.names=CONTROLLER',
          'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
          `log.dirs=${dataDir}`,
          'num.partitions=1',
          // One broker: every internal topic has one replica.
          'offsets.topic.replication.factor=1',
          'transaction.state.log.replication.factor=1',
          'transaction.state.log.min.isr=1',
          // Fewer internal partitions than the default 50: faster first start, same behaviour.
          'offsets.topic.num.partitions=10',
          'transaction.state.log.num.partitions=10',
          // Tests join consumer groups constantly; no reason to wait 3 s for more members.
          'group.initial.rebalance.delay.ms=0',
          'group.min.session.timeout.ms=3000',
          '',
        ].join('\n'),
      );
      // WARN and up, plus the start-up line; everything goes to stdout, which is the log file.
      writeFileSync(
        log4j,
        [
          'log4j.rootLogger=WARN, stdout',
          'log4j.logger.kafka.server.KafkaRaftServer=INFO',
          'log4j.appender.stdout=org.apache.log4j.ConsoleAppender',
          'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout',
          'log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n',
          '',
        ].join('\n'),
      );
      // KRaft storage is formatted once. Without meta.properties the folder is
      // not a usable Kafka log dir (fresh, cleaned or half-formatted): start over.
      if (!existsSync(join(dataDir, 'meta.properties'))) {
        log('formatting Kafka storage (new data folder)');
        rmSync(dataDir, { recursive: true, force: true });
        mkdirSync(dataDir, { recursive: true });
        const clusterId = newClusterId();
        await run('java', javaArgs('kafka.tools.StorageTool', ['format', '-t', clusterId, '-c', config]), { cwd: home, what: 'formatting Kafka storage' });
      }
    },
    start: () => spawnDetached('java', ['-Xms256m', '-Xmx512m', '-Djava.awt.headless=true', ...javaArgs('kafka.Kafka', [config])], { cwd: home, logFile }),
    healthy: () => kafkaHealthy([address]),
    stop: (pid) => stopProcess(pid, config),
  };
}
