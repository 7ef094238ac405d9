import type pg from 'pg';
import type { Pool } from '../db/pool.js';
import type { Logger } from '../observability/logger.js';

/** The channel the webhooks table's trigger notifies on every insert, update and delete. */
export const CHANGE_CHANNEL = 'webhooks_changed';

export interface WebhookChange {
  op: string;
  id: string;
  organization: string;
}

export interface ChangeListener {
  start(): Promise<void>;
  stop(): Promise<void>;
}

function parseChange(payload: string | undefined): WebhookChange | null {
  try {
    const change = JSON.parse(payload ?? '') as Partial<WebhookChange>;
    return typeof change.id === 'string' ? { op: String(change.op), id: change.id, organization: String(change.organization) } : null;
  } catch {
    return null;
  }
}

/**
 * Follows webhook changes through Postgres LISTEN on one pooled connection.
 * `onChange(null)` means changes may have been missed (the connection was
 * lost and is back): the caller must treat everything as changed. The
 * listener reconnects by itself, every second, for as long as it runs.
 */
export function createChangeListener(deps: { pool: Pool; log: Logger; onChange: (change: WebhookChange | null) => void }): ChangeListener {
  const { pool, log } = deps;
  let listener: pg.PoolClient | null = null;
  let stopped = false;
  let reconnectTimer: NodeJS.Timeout | undefined;

  const listen = async (): Promise<void> => {
    const client = await pool.connect();
    client.on('notification', (message) => deps.onChange(parseChange(message.payload)));
    client.on('error', (error) => {
      log.warn({ err: error }, 'webhook change listener lost its connection; reconnecting');
      client.release(true);
      if (listener === client) listener = null;
      scheduleReconnect();
    });
    try {
      await client.query(`LISTEN ${CHANGE_CHANNEL}`);
    } catch (error) {
      client.release(true);
      throw error;
    }
    listener = client;
  };

  const scheduleReconnect = (): void => {
    if (stopped || reconnectTimer) return;
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined;
      listen()
        .then(() => {
          log.info('webhook change listener reconnected');
          deps.onChange(null); // changes made while disconnected were not notified
        })
        .catch(() => scheduleReconnect());
    }, 1000);
  };

  return {
    start: listen,
    async stop() {
      stopped = true;
      clearTimeout(reconnectTimer);
      if (listener) {
        await listener.query(`UNLISTEN ${CHANGE_CHANNEL}`).catch(() => undefined);
        listener.release();
        listener = null;
      }
    },
  };
}
