import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import { loadConfig, schemaLeaves } from '../../config/load.js';
import { DOCS_PATH, main, renderConfigDocs } from '../../scripts/generate-config-docs.js';

const docs = readFileSync(DOCS_PATH, 'utf8');
const rowOf = (path: string): string | undefined => docs.split('\n').find((line) => line.startsWith(`| \`${path}\` |`));

describe('docs/configuration.md', () => {
  it('is the rendering of the current schema (run `npm run docs:config` after changing it)', () => {
    expect(docs).toBe(renderConfigDocs());
  });

  it('documents every key with its environment variable, format and doc, under its section', () => {
    const leaves = schemaLeaves();
    expect(leaves.length).toBeGreaterThan(0);
    for (const { path, spec } of leaves) {
      expect(spec.env, `${path} has no environment variable`).toBeTruthy();
      const row = rowOf(path);
      expect(row, path).toBeDefined();
      const cells = row!.split(/(?<!\\)\|/).map((cell) => cell.trim());
      expect(cells[2], path).toBe(`\`${spec.env}\``);
      expect(cells[5], path).toContain(spec.doc.replace(/\|/g, '\\|').replace(/\r?\n/g, ' '));
      const section = path.includes('.') ? path.split('.')[0]! : 'general';
      const heading = docs.lastIndexOf('\n## ', docs.indexOf(row!));
      expect(docs.slice(heading + 4, docs.indexOf('\n', heading + 1)), path).toBe(section);
    }
  });

  it('never shows the default of a secret, and says which keys must be set', () => {
    for (const { path, spec } of schemaLeaves().filter((leaf) => leaf.spec.sensitive === true)) {
      const row = rowOf(path)!;
      expect(row, path).toContain('**Secret**');
      if (typeof spec.default === 'string' && spec.default !== '') {
        expect(docs, path).not.toContain(spec.default);
        expect(row, path).toContain('(secret)');
      }
    }
    // SECRETS_ENCRYPTION_KEY has no usable default: loading without it fails, and the docs say so.
    expect(() => loadConfig({})).toThrow(/secrets\.encryptionKey/);
    expect(rowOf('secrets.encryptionKey')).toContain('(none: must be set)');
    // An empty optional secret is not "required".
    expect(rowOf('kafka.sasl.password')).toContain('| (empty) |');
  });

  it('shows the limits checked across keys in the format column, where an operator looks for them', () => {
    expect(rowOf('deliverer.httpThreads')).toContain('| integer, at most 16 |');
    expect(rowOf('shutdown.timeoutMs')).toContain('| milliseconds, at least 6000, at most 2147483647 |');
    expect(rowOf('deliverer.maxQueuedPerWebhook')).toContain('| integer, 1 to `DELIVERER_MAX_BUFFERED` |');
    expect(rowOf('topics.deliveriesMaxMessageBytes')).toContain('| integer, 16384 to 268435456 |');
    expect(rowOf('kafka.sasl.username')).toContain('required when `KAFKA_SASL_MECHANISM` is set');
  });

  it('shows allowed values, named formats and built-ins', () => {
    expect(rowOf('env')).toContain('`production`, `development`, `test`');
    expect(rowOf('kafka.brokers')).toContain('| broker-list |');
    expect(rowOf('kafka.ssl')).toContain('| `true` or `false` (`1`, `0`) |');
    expect(rowOf('deliverer.maxInFlight')).toContain('| integer ≥ 1 |');
    expect(rowOf('router.lingerMs')).toContain('| milliseconds, at most 1000 |');
    // A wait with a timer: no longer than a timer keeps.
    expect(rowOf('http.requestTimeoutMs')).toContain('| milliseconds, 1 to 2147483647 |');
    expect(rowOf('deliverer.httpInlineBelow')).toContain('| integer ≥ 0 |');
    expect(rowOf('deliverer.retryDelaysMs')).toContain('`5000,300000,');
  });

  it('says where configuration comes from and what a wrong value does', () => {
    expect(docs).toMatch(/environment\s+variables\s+only/);
    expect(docs).toMatch(/stops\s+start-up/);
    expect(docs).toMatch(/redacted\s+from\s+logs/);
  });
});

describe('scripts/generate-config-docs.ts', () => {
  let dir: string;
  let printed: MockInstance<typeof console.log>;
  let complained: MockInstance<typeof console.error>;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'config-docs-'));
    printed = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    complained = vi.spyOn(console, 'error').mockImplementation(() => undefined);
  });
  afterEach(() => {
    vi.restoreAllMocks();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes the file, and --check passes only while it is current', () => {
    const path = join(dir, 'configuration.md');
    expect(main(['--check'], path), 'missing file').toBe(1);
    expect(main([], path)).toBe(0);
    expect(readFileSync(path, 'utf8')).toBe(renderConfigDocs());
    expect(main(['--check'], path)).toBe(0);
    writeFileSync(path, `${renderConfigDocs()}\nhand edit\n`);
    expect(main(['--check'], path), 'stale file').toBe(1);
    expect(complained).toHaveBeenCalledWith(expect.stringContaining('out of date'));
    expect(readFileSync(path, 'utf8'), '--check never writes').toContain('hand edit');
  });

  it('prints usage for --help and refuses unknown options', () => {
    const path = join(dir, 'configuration.md');
    expect(main(['--help'], path)).toBe(0);
    expect(printed).toHaveBeenCalledWith(expect.stringContaining('--check'));
    expect(main(['--bogus'], path)).toBe(2);
    expect(() => readFileSync(path)).toThrow();
  });
});
