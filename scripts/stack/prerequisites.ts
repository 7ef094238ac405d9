import { StackError } from './errors.js';
import { run } from './processes.js';

/** Kafka 3.9 and Apicurio 3 need Java 17+. */
export async function checkJava(): Promise<void> {
  let output: string;
  try {
    output = await run('java', ['-version'], { what: 'java -version' });
  } catch {
    throw new StackError('Java 17 or newer is required on the PATH (Kafka and Apicurio Registry run on the JVM); install a JDK/JRE 17+, e.g. `apt-get install openjdk-17-jre-headless`');
  }
  // `version "17.0.15"`, or the old `version "1.8.0_392"` style where the major is the second number.
  const match = /version "(\d+)(?:\.(\d+))?/.exec(output);
  const first = Number(match?.[1] ?? 0);
  const major = first === 1 ? Number(match?.[2] ?? 0) : first;
  if (major < 17) throw new StackError(`Java 17 or newer is required on the PATH; \`java -version\` says ${major ? `Java ${major}` : 'something unrecognised'}`);
}

/** Maven fetches Kafka and Apicurio from Maven Central on the first run (only then is it needed). */
export async function checkMaven(): Promise<void> {
  try {
    await run('mvn', ['-v'], { what: 'mvn -v' });
  } catch {
    throw new StackError('Maven (`mvn`) is required on the PATH for the first `stack:up`: it downloads Kafka and Apicurio Registry from Maven Central; install it, e.g. `apt-get install maven`');
  }
}
