import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NODE_FLAGS } from '../../connector/node-flags.js';

const read = (path: string): string => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

describe('the Node flags of the connector process', () => {
  it('are the image\'s NODE_OPTIONS, which every process of the image starts with', () => {
    const options = /^ENV NODE_OPTIONS="([^"]*)"$/m.exec(read('Dockerfile'))?.[1];
    expect(options?.split(' ')).toEqual([...NODE_FLAGS]);
  });

  it('are what npm runs the connector and its benchmarks with (they run the router and the deliverer in their own processes)', () => {
    const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
    for (const name of ['connector', 'bench:router', 'bench:delivery']) {
      // Before the script: after it they would be the program's arguments, not Node's.
      expect(scripts[name]).toMatch(new RegExp(`^tsx ${NODE_FLAGS.join(' ')} [^-]\\S*\\.ts$`));
    }
  });
});
