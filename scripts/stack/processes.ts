import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readdirSync, statSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';

/** The OS user a command runs as (Postgres refuses to run as root). */
export interface RunAs {
  uid: number;
  gid: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts a long-lived process that outlives this one: its own process group
 * (Ctrl-C in the terminal does not reach it), output appended to `logFile`.
 * Resolves with the pid once the process exists.
 */
export function spawnDetached(command: string, args: string[], options: { cwd: string; logFile: string }): Promise<number> {
  const out = openSync(options.logFile, 'a');
  // A banner separates this start from earlier ones in the same log.
  writeSync(out, `--- ${new Date().toISOString()} starting: ${command} ${args.join(' ')}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, detached: true, stdio: ['ignore', out, out] });
    closeSync(out);
    child.once('error', (error) => reject(new Error(`could not start ${command}: ${error.message}`)));
    child.once('spawn', () => {
      child.unref();
      resolve(child.pid!);
    });
  });
}

function commandLine(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return undefined;
  }
}

/** Alive and really ours: one argument of its command line is exactly a marker (a pid may since belong to something else). */
export function isOurs(pid: number | undefined, markers: string | readonly string[]): boolean {
  if (!pid) return false;
  const args = commandLine(pid);
  if (!args) return false;
  return (typeof markers === 'string' ? [markers] : markers).some((marker) => args.includes(marker));
}

/** A running process carrying `marker`, for when state.json lost track of it (deleted, or a crash between start and write). */
export function findOurs(marker: string): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid !== process.pid && isOurs(pid, marker)) return pid;
  }
  return undefined;
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Gone between the check and the signal: that is what we wanted.
  }
}

/** A clean-shutdown signal (SIGTERM unless told), SIGKILL after `graceMs`; only while the pid is still ours. */
export async function stopProcess(pid: number, marker: string | readonly string[], { signal: first = 'SIGTERM', graceMs = 15_000 }: { signal?: NodeJS.Signals; graceMs?: number } = {}): Promise<void> {
  if (!isOurs(pid, marker)) return;
  signal(pid, first);
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && isOurs(pid, marker)) await sleep(100);
  if (!isOurs(pid, marker)) return;
  signal(pid, 'SIGKILL');
  const killDeadline = Date.now() + 5_000;
  while (Date.now() < killDeadline && isOurs(pid, marker)) await sleep(100);
}

/**
 * Whether a service can listen on 127.0.0.1:port, found by doing it: this
 * catches listeners on 0.0.0.0 too, and says nothing about ::1-only ones that
 * would not stop the service either.
 */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Runs a command to completion; rejects with the last lines of its output on failure. */
export function run(command: string, args: string[], options: { cwd?: string; as?: RunAs; what: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.as ? { uid: options.as.uid, gid: options.as.gid } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', (error) => reject(new Error(`${options.what}: ${error.message}`)));
    child.once('close', (code) => {
      if (code === 0) return resolve(stdout + stderr);
      const output = (stderr.trim() || stdout.trim()).split('\n').slice(-5).join(' | ');
      reject(new Error(`${options.what} failed (exit ${code}): ${output}`));
    });
  });
}

/** The current size of a log, so an error can show only what this start wrote. */
export function logSize(file: string): number {
  return existsSync(file) ? statSync(file).size : 0;
}

const BANNER = /^--- \S+ starting: /;
// Java stack frames push the exception's message out of view; the message is what helps.
const STACK_FRAME = /^\s+at |^\s*\.\.\. \d+ more/;

/** The last lines of a log written after `fromByte`, indented to follow a one-line error. */
export function lastLines(file: string, fromByte = 0, count = 6): string {
  if (!existsSync(file)) return '    (no log yet)';
  const lines = readFileSync(file)
    .subarray(fromByte)
    .toString('utf8')
    .split('\n')
    .filter((line) => line.trim() !== '' && !BANNER.test(line) && !STACK_FRAME.test(line));
  if (lines.length === 0) return '    (nothing in the log yet)';
  return lines
    .slice(-count)
    .map((line) => `    ${line.length > 300 ? `${line.slice(0, 300)}…` : line}`)
    .join('\n');
}
