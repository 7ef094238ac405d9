import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stackOptionsFromEnv } from '../../scripts/stack/options.js';

/**
 * schemathesis (a Python tool, from PyPI) without manual steps: on first use
 * a virtualenv with this pinned version is built in the stack's cache folder
 * (outside the repo, shared by every clone: `STACK_CACHE_DIR`, default
 * `~/.cache/identity-webhooks-stack`), and reused afterwards. Needs python3
 * with its venv module (Debian: the python3-venv package).
 */
export const SCHEMATHESIS_VERSION = '4.32.5';

type Log = (line: string) => void;

/** Progress goes to stderr, where test runners show it as it comes. */
export const toStderr: Log = (line) => void process.stderr.write(`${line}\n`);

export function schemathesisVenvDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(stackOptionsFromEnv(env).cacheDir, `schemathesis-${SCHEMATHESIS_VERSION}`);
}

const pythonOf = (venv: string): string => join(venv, 'bin', 'python');

function run(command: string, args: string[], timeoutMs: number): { ok: boolean; output: string } {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? String(result.error) : ''}`;
  return { ok: result.status === 0, output };
}

function installedVersion(venv: string): string | null {
  if (!existsSync(pythonOf(venv))) return null;
  const probe = run(pythonOf(venv), ['-c', 'import importlib.metadata as m; print(m.version("schemathesis"))'], 30_000);
  return probe.ok ? probe.output.trim() : null;
}

/**
 * The venv's python, with schemathesis importable; built on first use. The
 * venv is built beside its final place and renamed into it when complete, so
 * an interrupted install is never taken for a finished one (a venv invoked
 * through its own bin/python works from wherever it was renamed to).
 */
export async function ensureSchemathesis(log: Log = toStderr, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const venv = schemathesisVenvDir(env);
  if (installedVersion(venv) === SCHEMATHESIS_VERSION) return pythonOf(venv);

  // PYTHON if set, else the python3 on the PATH, else Debian's (a pyenv or other build may lack ensurepip).
  const candidates = env['PYTHON'] ? [env['PYTHON']] : ['python3', '/usr/bin/python3'];
  const probes = candidates.map((python) => ({ python, ...run(python, ['-c', 'import sys, venv, ensurepip; assert sys.version_info >= (3, 9); print(sys.version.split()[0])'], 30_000) }));
  const probe = probes.find((p) => p.ok);
  if (!probe) {
    throw new Error(
      `schemathesis needs Python 3.9+ with its venv module to install itself; on Debian/Ubuntu: apt-get install python3-venv ` +
        `(or set PYTHON to an interpreter that has it).\n${probes.map((p) => `${p.python}: ${p.output.trim()}`).join('\n')}`,
    );
  }
  const { python } = probe;

  await mkdir(join(venv, '..'), { recursive: true });
  const building = await mkdtemp(`${venv}.partial-`);
  log(`[schemathesis] installing schemathesis ${SCHEMATHESIS_VERSION} into ${venv} (first use; Python ${probe.output.trim()}, about 15-30 s)`);
  const started = Date.now();
  try {
    const made = run(python, ['-m', 'venv', building], 120_000);
    if (!made.ok) throw new Error(`${python} -m venv ${building} failed:\n${made.output}`);
    const pip = run(pythonOf(building), ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '--quiet', `schemathesis==${SCHEMATHESIS_VERSION}`], 600_000);
    if (!pip.ok) throw new Error(`pip install schemathesis==${SCHEMATHESIS_VERSION} failed:\n${pip.output}`);
    await rm(venv, { recursive: true, force: true });
    try {
      await rename(building, venv);
    } catch (error) {
      // Another run finished the same install first: use its venv.
      if (installedVersion(venv) !== SCHEMATHESIS_VERSION) throw error;
    }
  } finally {
    await rm(building, { recursive: true, force: true });
  }
  if (installedVersion(venv) !== SCHEMATHESIS_VERSION) throw new Error(`schemathesis ${SCHEMATHESIS_VERSION} is not importable from ${venv} after installing it`);
  log(`[schemathesis] installed in ${Math.round((Date.now() - started) / 1000)} s`);
  return pythonOf(venv);
}

export interface SchemathesisResult {
  exitCode: number | null;
  /** What schemathesis printed (stdout and stderr interleaved). */
  output: string;
  timedOut: boolean;
  durationMs: number;
}

/**
 * `schemathesis <args>` in a scratch working folder (its reports and any
 * config lookup stay out of the repo), killed after `timeoutMs`.
 */
export async function runSchemathesis(args: string[], options: { timeoutMs: number; log?: Log; env?: NodeJS.ProcessEnv }): Promise<SchemathesisResult> {
  const python = await ensureSchemathesis(options.log, options.env);
  const cwd = await mkdtemp(join(tmpdir(), 'schemathesis-'));
  const started = Date.now();
  try {
    return await new Promise<SchemathesisResult>((resolve, reject) => {
      const child = spawn(python, ['-m', 'schemathesis.cli', ...args], {
        cwd,
        env: { ...process.env, ...options.env, NO_COLOR: '1', PYTHONUNBUFFERED: '1', COLUMNS: '120' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, options.timeoutMs);
      child.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.on('close', (exitCode) => {
        clearTimeout(timer);
        resolve({ exitCode, output, timedOut, durationMs: Date.now() - started });
      });
    });
  } finally {
    await rm(cwd, { recursive: true, force: true });
  }
}
