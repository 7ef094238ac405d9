import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { fetchKafka } from './maven.js';
import type { StackOptions } from './options.js';
import { run, spawnDetached, stopProcess } from './processes.js';
import type { StackService } from './service.js';

/** Apache Kafka from its Maven jars: one KRaft node (broker + controller), heap capped. */
export function kafkaService(options: StackOptions): StackService {
  const home = join(options.stateDir, 'kafka');
  const dataDir = join(home, 'data');
  const logFile = join(options.stateDir, 'logs', 'kafka.log');
  const marker = join(home, 'server.properties');
  let libs = '';
  const java = (args: string[]): string[] => ['-cp', `${libs}/*`, `-Dlog4j.configuration=file:${join(home, 'log4j.properties')}`, ...args];

  return {
    name: 'kafka',
    port: options.kafkaPort,
    portEnv: 'STACK_KAFKA_PORT',
    address: `127.0.0.1:${options.kafkaPort}`,
    logFile,
    marker,
    prepare(log) {
      libs = fetchKafka(options.cacheDir, log);
      mkdirSync(dataDir, { recursive: true });
      writeFileSync(
        marker,
        [
          'process.roles=broker,controller',
          'node.id=1',
          `controller.quorum.voters=1@127.0.0.1:${options.kafkaControllerPort}`,
          `listeners=PLAINTEXT://127.0.0.1:${options.kafkaPort},CONTROLLER://127.0.0.1:${options.kafkaControllerPort}`,
          `advertised.listeners=PLAINTEXT://127.0.0.1:${options.kafkaPort}`,
          'controller.listener.names=CONTROLLER',
          'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
          `log.dirs=${dataDir}`,
          'num.partitions=1',
          'offsets.topic.replication.factor=1',
          'offsets.topic.num.partitions=10',
          'transaction.state.log.replication.factor=1',
          'transaction.state.log.min.isr=1',
          'transaction.state.log.num.partitions=10',
          'group.initial.rebalance.delay.ms=0',
          'group.min.session.timeout.ms=3000',
          '',
        ].join('\n'),
      );
      writeFileSync(
        join(home, 'log4j.properties'),
        'log4j.rootLogger=WARN, stdout\nlog4j.logger.kafka.server.KafkaRaftServer=INFO\nlog4j.appender.stdout=org.apache.log4j.ConsoleAppender\n' +
          'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout\nlog4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n\n',
      );
      // Storage is formatted once; a data dir with meta.properties is reused as it is.
      if (!existsSync(join(dataDir, 'meta.properties'))) {
        run('java', java(['kafka.tools.StorageTool', 'format', '-t', randomUUID(), '-c', marker]), { what: 'formatting Kafka storage' });
      }
    },
    start() {
      return spawnDetached('java', ['-Xms256m', '-Xmx512m', ...java(['kafka.Kafka', marker])], { cwd: home, logFile });
    },
    async healthy() {
      const kafka = new Kafka({ brokers: [`127.0.0.1:${options.kafkaPort}`], logLevel: logLevel.NOTHING, connectionTimeout: 1000, retry: { retries: 0 } });
      const admin = kafka.admin();
      try {
        await admin.connect();
        const cluster = await admin.describeCluster();
        return cluster.brokers.length > 0;
      } catch {
        return false;
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
    },
    stop: (pid) => stopProcess(pid, marker),
  };
}
