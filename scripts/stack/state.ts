import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type ServiceName = 'kafka' | 'registry' | 'postgres';

/** What `stack:up` started, so `stack:down` stops exactly that. */
export interface StackState {
  pids: Partial<Record<ServiceName, number>>;
}

const file = (stateDir: string): string => join(stateDir, 'state.json');

export function readState(stateDir: string): StackState {
  if (!existsSync(file(stateDir))) return { pids: {} };
  return JSON.parse(readFileSync(file(stateDir), 'utf8')) as StackState;
}

export function writeState(stateDir: string, state: StackState): void {
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(file(stateDir), JSON.stringify(state, null, 2));
}
