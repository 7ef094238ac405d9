import type { Log } from './options.js';
import type { ServiceName } from './state.js';

/** One service of the stack: how to get it, start it, check it and stop it. */
export interface StackService {
  name: ServiceName;
  /** Every port it listens on, each with what listens (if not the service itself) and the variable that moves it: the port-in-use error names both. */
  ports: Array<{ port: number; env: string; what?: string }>;
  /** What a client connects to, as the connector's variable would hold it. */
  address: string;
  logFile: string;
  /**
   * One exact argument of its command line, unique to this STACK_DIR: proves
   * that a pid is this service (pids get reused) and finds it when state.json
   * lost track of it.
   */
  marker: string;
  /**
   * Markers of launches by earlier versions of this script, so a stack
   * started before an upgrade is still stopped by `down`. Trusted only for a
   * pid that state.json recorded, never to find a process.
   */
  olderMarkers?: string[];
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
