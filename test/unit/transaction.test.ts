import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { Pool } from '../../connector/db/pool.js';
import { inTransaction } from '../../connector/db/transaction.js';

/**
 * A connection that fails as pg's does when its socket drops: an `error`
 * event (nobody else listens while it is borrowed), then every query fails.
 */
function droppingConnection(dropOn: string) {
  const client = Object.assign(new EventEmitter(), {
    statements: [] as string[],
    released: [] as Array<Error | undefined>,
    dropped: false,
    async query(text: string) {
      client.statements.push(text);
      if (client.dropped) throw new Error('Connection terminated');
      if (text.startsWith(dropOn)) {
        client.dropped = true;
        client.emit('error', new Error('Connection terminated unexpectedly'));
        throw new Error('Connection terminated');
      }
      return { rows: [], rowCount: 1 };
    },
    release(error?: Error) {
      client.released.push(error);
    },
  });
  return { client, pool: { connect: async () => client } as unknown as Pool };
}

describe('inTransaction', () => {
  it('commits what the work did and hands the connection back whole', async () => {
    const { client, pool } = droppingConnection('NEVER');
    expect(await inTransaction(pool, async (db) => (await db.query('UPDATE webhooks SET x = 1')).rowCount)).toBe(1);
    expect(client.statements).toEqual(['BEGIN', 'UPDATE webhooks SET x = 1', 'COMMIT']);
    expect(client.released).toEqual([undefined]);
    expect(client.listenerCount('error')).toBe(0);
  });

  it('rolls back and passes the work\'s error on', async () => {
    const { client, pool } = droppingConnection('NEVER');
    await expect(inTransaction(pool, async () => {
      throw new Error('refused');
    })).rejects.toThrow('refused');
    expect(client.statements).toEqual(['BEGIN', 'ROLLBACK']);
    expect(client.released).toEqual([undefined]);
  });

  it('hears a connection that drops mid-transaction (no uncaught error event) and discards it', async () => {
    const { client, pool } = droppingConnection('UPDATE');
    // An `error` event with no listener would throw here, out of the emitter.
    await expect(inTransaction(pool, (db) => db.query('UPDATE webhooks SET x = 1'))).rejects.toThrow(/^Connection terminated$/);
    expect(client.released).toHaveLength(1);
    expect(client.released[0]?.message).toBe('Connection terminated unexpectedly');
    expect(client.listenerCount('error')).toBe(0);
  });

  it('drops a connection whose statement was not answered in time rather than queue a ROLLBACK behind it', async () => {
    const { client, pool } = droppingConnection('NEVER');
    await expect(inTransaction(pool, async () => {
      throw new Error('Query read timeout');
    })).rejects.toThrow('Query read timeout');
    expect(client.statements).toEqual(['BEGIN']);
    expect(client.released[0]?.message).toBe('Query read timeout');
  });
});
