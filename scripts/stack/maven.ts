import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { APICURIO_VERSION, KAFKA_VERSION, type Log } from './options.js';
import { run } from './processes.js';

// One Maven at a time: two resolvers writing the same files of ~/.m2 at once can corrupt them.
let mavenQueue: Promise<unknown> = Promise.resolve();
function oneAtATime<T>(task: () => Promise<T>): Promise<T> {
  const next = mavenQueue.then(task, task);
  mavenQueue = next.catch(() => undefined);
  return next;
}

// Downloads land in a `.partial` folder renamed when complete, so an
// interrupted first run is redone rather than mistaken for a finished one.

export const kafkaLibs = (cacheDir: string): string => join(cacheDir, `kafka-${KAFKA_VERSION}`, 'libs');
export const apicurioHome = (cacheDir: string): string => join(cacheDir, `apicurio-${APICURIO_VERSION}`);
export const apicurioJar = (cacheDir: string): string => join(apicurioHome(cacheDir), `apicurio-registry-app-${APICURIO_VERSION}-runner.jar`);

/** Kafka's runtime classpath (the broker, its dependencies and a log4j binding) from Maven Central, once per machine. */
export function fetchKafka(cacheDir: string, log: Log): Promise<string> {
  const libs = kafkaLibs(cacheDir);
  if (existsSync(libs)) return Promise.resolve(libs);
  return oneAtATime(async () => {
    if (existsSync(libs)) return libs;
    log(`Fetching Kafka ${KAFKA_VERSION} jars with Maven (first run only)…`);
    const home = join(cacheDir, `kafka-${KAFKA_VERSION}`);
    const partial = `${libs}.partial`;
    mkdirSync(home, { recursive: true });
    rmSync(partial, { recursive: true, force: true });
    // A pom whose only purpose is its dependency list; slf4j-reload4j gives Kafka's log4j config a binding.
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
    await withHeartbeat(log, `downloading Kafka ${KAFKA_VERSION}`, run('mvn', ['-q', '-B', 'dependency:copy-dependencies', `-DoutputDirectory=${partial}`, '-DincludeScope=runtime'], {
      cwd: home,
      what: `Maven download of Kafka ${KAFKA_VERSION}`,
    }));
    renameSync(partial, libs);
    return libs;
  });
}

/**
 * A line every 15 s while a long quiet step runs (Maven's download of some
 * 200 MB, run with -q), so a first run on a slow link does not look hung.
 */
export async function withHeartbeat<T>(log: Log, what: string, step: Promise<T>, everyMs = 15_000): Promise<T> {
  const started = Date.now();
  const timer = setInterval(() => log(`  still ${what} (${Math.round((Date.now() - started) / 1000)} s)…`), everyMs);
  try {
    return await step;
  } finally {
    clearInterval(timer);
  }
}

/** Apicurio Registry's all-in-one archive (runner jar + lib/) from Maven Central, unpacked once per machine. */
export function fetchApicurio(cacheDir: string, log: Log): Promise<string> {
  const home = apicurioHome(cacheDir);
  if (existsSync(apicurioJar(cacheDir))) return Promise.resolve(home);
  return oneAtATime(async () => {
    if (existsSync(apicurioJar(cacheDir))) return home;
    log(`Fetching Apicurio Registry ${APICURIO_VERSION} with Maven (first run only)…`);
    const partial = `${home}.partial`;
    const archive = join(cacheDir, `apicurio-registry-app-${APICURIO_VERSION}-all.tar.gz`);
    mkdirSync(cacheDir, { recursive: true });
    rmSync(partial, { recursive: true, force: true });
    mkdirSync(partial);
    // 3.0.x is the last line published with the `all` archive on Maven Central.
    await withHeartbeat(log, `downloading Apicurio Registry ${APICURIO_VERSION}`, run('mvn', ['-q', '-B', 'dependency:copy', `-Dartifact=io.apicurio:apicurio-registry-app:${APICURIO_VERSION}:tar.gz:all`, `-DoutputDirectory=${cacheDir}`], {
      cwd: cacheDir,
      what: `Maven download of Apicurio Registry ${APICURIO_VERSION}`,
    }));
    await run('tar', ['xzf', archive, '-C', partial], { what: 'unpacking Apicurio Registry' });
    rmSync(home, { recursive: true, force: true });
    renameSync(partial, home);
    // ~/.m2 keeps a copy of the archive; this one is no longer needed.
    rmSync(archive, { force: true });
    return home;
  });
}
