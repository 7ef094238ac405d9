import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { APICURIO_VERSION, KAFKA_VERSION, type Log } from './options.js';
import { run } from './processes.js';

/** Kafka's runtime classpath from Maven Central, once per machine. Returns the libs folder. */
export function fetchKafka(cacheDir: string, log: Log): string {
  const home = join(cacheDir, `kafka-${KAFKA_VERSION}`);
  const libs = join(home, 'libs');
  if (existsSync(libs) && readdirSync(libs).some((f) => f.startsWith('kafka_2.13-'))) return libs;
  log(`Fetching Kafka ${KAFKA_VERSION} jars with Maven (first run only)…`);
  mkdirSync(home, { recursive: true });
  writeFileSync(
    join(home, 'pom.xml'),
    `<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>local.stack</groupId><artifactId>kafka-runtime</artifactId><version>1</version><packaging>pom</packaging>
<dependencies>
<dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>${KAFKA_VERSION}</version></dependency>
<dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version></dependency>
</dependencies></project>
`,
  );
  run('mvn', ['-q', '-B', 'dependency:copy-dependencies', `-DoutputDirectory=${libs}`, '-DincludeScope=runtime'], { cwd: home, what: 'Maven download of Kafka' });
  return libs;
}

/** Apicurio Registry's all-in-one archive from Maven Central, unpacked once. Returns its folder. */
export function fetchApicurio(cacheDir: string, log: Log): string {
  const home = join(cacheDir, `apicurio-${APICURIO_VERSION}`);
  const jar = join(home, `apicurio-registry-app-${APICURIO_VERSION}-runner.jar`);
  if (existsSync(jar)) return home;
  log(`Fetching Apicurio Registry ${APICURIO_VERSION} with Maven (first run only)…`);
  mkdirSync(home, { recursive: true });
  run('mvn', ['-q', '-B', 'dependency:copy', `-Dartifact=io.apicurio:apicurio-registry-app:${APICURIO_VERSION}:tar.gz:all`, `-DoutputDirectory=${cacheDir}`], { what: 'Maven download of Apicurio Registry' });
  run('tar', ['xzf', join(cacheDir, `apicurio-registry-app-${APICURIO_VERSION}-all.tar.gz`), '-C', home], { what: 'unpacking Apicurio Registry' });
  return home;
}
