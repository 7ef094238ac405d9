import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type ServiceName = 'kafka' | 'registry' | 'postgres';

/**
 * What `up` started, so `down` stops exactly that and nothing else. The port
 * is kept too: a service started on another port than the options now say
 * must not be reported at the new address.
 */
export interface StackState {
  pids: Partial<Record<ServiceName, number>>;
  ports?: Partial<Record<ServiceName, number>>;
}

const file = (stateDir: string): string => join(stateDir, 'state.json');

export function readState(stateDir: string): StackState {
  if (!existsSync(file(stateDir))) return { pids: {}, ports: {} };
  try {
    const parsed = JSON.parse(readFileSync(file(stateDir), 'utf8')) as Partial<StackState>;
    return { pids: { ...parsed.pids }, ports: { ...parsed.ports } };
  } catch {
    // A torn or hand-edited file: start from nothing; processes are found again by their command line.
    return { pids: {}, ports: {} };
  }
}

/** Written through a rename so a reader never sees half a file. */
export function writeState(stateDir: string, state: StackState): void {
  mkdirSync(stateDir, { recursive: true });
  const tmp = `${file(stateDir)}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(tmp, file(stateDir));
}
