import type { Log } from './options.js';
import type { ServiceName } from './state.js';

/** One service of the stack: how to get it, start it, check it and stop it. */
export interface StackService {
  name: ServiceName;
  /** Every port it listens on, each with the variable that moves it (named in the port-in-use error). */
  ports: Array<{ port: number; env: string }>;
  /** What a client connects to, as the connector's variable would hold it. */
  address: string;
  logFile: string;
  /**
   * One exact argument of its command line, unique to this STACK_DIR: proves
   * that a pid is this service (pids get reused) and finds it when state.json
   * lost track of it.
   */
  marker: string;
  /** Runs on the JVM (so `up` checks for Java before starting it). */
  needsJava: boolean;
  /** Whether its binaries are already in the cache (else `up` needs Maven). */
  downloaded(): boolean;
  /** Downloads (first run only) and initialises its data folder. */
  prepare(log: Log): Promise<void>;
  /** Starts it detached from this process; returns its pid. */
  start(): Promise<number>;
  healthy(): Promise<boolean>;
  stop(pid: number): Promise<void>;
}
