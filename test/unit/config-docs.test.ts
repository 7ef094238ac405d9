import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { schemaLeaves } from '../../config/load.js';
import { DOCS_PATH, renderConfigDocs } from '../../scripts/generate-config-docs.js';

describe('docs/configuration.md', () => {
  const docs = readFileSync(DOCS_PATH, 'utf8');

  it('is the rendering of the current schema (run `npm run docs:config` after changing it)', () => {
    expect(docs).toBe(renderConfigDocs());
  });

  it('documents every key with its environment variable and never shows a secret default', () => {
    for (const { path, spec } of schemaLeaves()) {
      expect(spec.env, path).toBeTruthy();
      expect(docs).toContain(`| \`${path}\` | \`${spec.env}\` |`);
    }
    expect(docs).not.toContain('postgres://postgres:postgres');
  });
});
