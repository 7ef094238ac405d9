import { describe, expect, it } from 'vitest';
import { stopParts, type RunningPart } from '../../connector/app.js';
import { createRootLogger } from '../../connector/observability/logger.js';

describe('stopParts', () => {
  const log = createRootLogger({ level: 'silent' });

  it('stops every part newest first, though one fails, then fails naming it', async () => {
    const stopped: string[] = [];
    const part = (name: string, fails = false): RunningPart => ({
      name,
      stop: async () => {
        stopped.push(name);
        if (fails) throw new Error(`${name} would not close`);
      },
    });
    await expect(stopParts([part('pool'), part('producer', true), part('consumer')], log)).rejects.toThrow('did not stop cleanly: producer');
    expect(stopped).toEqual(['consumer', 'producer', 'pool']);
    await expect(stopParts([part('pool'), part('consumer')], log)).resolves.toBeUndefined();
  });
});
