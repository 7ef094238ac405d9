import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NODE_FLAGS } from '../../connector/node-flags.js';

const read = (path: string): string => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

describe('the Node flags of the connector process', () => {
  it('are what the image starts the connector with', () => {
    const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(read('Dockerfile'))?.[1];
    expect(entrypoint).toBeDefined();
    const argv = JSON.parse(entrypoint!) as string[];
    expect(argv).toEqual(['node', ...NODE_FLAGS, 'dist/connector/main.js']);
  });

  it('are what npm runs the connector and its benchmarks with (they run the router and the deliverer in their own processes)', () => {
    const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
    for (const name of ['connector', 'bench:router', 'bench:delivery']) {
      expect(scripts[name]?.split(' ').filter((word) => word.startsWith('--'))).toEqual([...NODE_FLAGS]);
    }
  });
});
