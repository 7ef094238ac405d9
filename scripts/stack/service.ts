import type { Log } from './options.js';
import type { ServiceName } from './state.js';

/** One service of the stack: how to get it, start it, check it and stop it. */
export interface StackService {
  name: ServiceName;
  port: number;
  /** The variable that moves it to another port, named in the port-in-use error. */
  portEnv: string;
  address: string;
  logFile: string;
  /** Text in the process's command line that proves a pid is this service. */
  marker: string;
  prepare(log: Log): void;
  start(): number;
  healthy(): Promise<boolean>;
  stop(pid: number): Promise<void>;
}
