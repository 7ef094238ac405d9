import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * A program of this repository (connector role, admin API) run by the demo
 * as a child process, as an operator runs it: its own environment, output to
 * a log file, stopped by SIGTERM.
 */
export interface ChildService {
  name: string;
  child: ChildProcess;
  logFile: string;
  /** Resolves with the exit code (or signal name) once it is gone. */
  exited: Promise<number | string>;
  /** True once it has exited. */
  gone(): boolean;
  /** SIGTERM, then SIGKILL after `timeoutMs`; resolves with how it ended. */
  stop(timeoutMs: number): Promise<number | string>;
  /** SIGKILL at once (a second Ctrl-C, or the demo itself dying). */
  kill(): void;
}

export function spawnService(name: string, args: string[], options: { cwd: string; env: Record<string, string>; logFile: string }): ChildService {
  const out = openSync(options.logFile, 'w');
  writeSync(out, `--- ${new Date().toISOString()} ${name}: node ${args.join(' ')}\n`);
  const child = spawn(process.execPath, args, {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', out, out],
    // Its own process group: a Ctrl-C in the terminal reaches only the demo, which stops each child in order.
    detached: true,
  });
  closeSync(out);
  let code: number | string | undefined;
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (exitCode, signal) => resolve((code = exitCode ?? signal ?? 'unknown')));
    child.once('error', () => resolve((code = 'spawn error')));
  });
  return {
    name,
    child,
    logFile: options.logFile,
    exited,
    gone: () => code !== undefined,
    async stop(timeoutMs) {
      if (code !== undefined) return code;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const how = await exited;
      clearTimeout(timer);
      return how;
    },
    kill() {
      if (code === undefined) child.kill('SIGKILL');
    },
  };
}

/** Polls `url` until it answers 2xx; fails early with the log's tail when the process exits. */
export async function waitUntilServing(service: ChildService, url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (service.gone()) throw new Error(`${service.name} exited during start-up (${String(await service.exited)}); last lines of ${service.logFile}:\n${tail(service.logFile)}`);
    try {
      if ((await fetch(url, { signal: AbortSignal.timeout(2000) })).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${service.name} did not answer ${url} within ${Math.round(timeoutMs / 1000)} s; see ${service.logFile}:\n${tail(service.logFile)}`);
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
}

/** The last lines of a log file, indented, for an error message. */
export function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).map((line) => `    ${line}`).join('\n');
  } catch {
    return '    (no log)';
  }
}

/** `preferred` when it is free on 127.0.0.1, else a free port the OS picks. */
export async function portNear(preferred: number): Promise<number> {
  const tryListen = (port: number): Promise<number | null> =>
    new Promise((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(null));
      server.listen(port, '127.0.0.1', () => {
        const { port: bound } = server.address() as { port: number };
        server.close(() => resolve(bound));
      });
    });
  return (await tryListen(preferred)) ?? (await tryListen(0))!;
}
