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
  /** The listening client, with its error handler (taken off when it is discarded). */
  let listener: { client: pg.PoolClient; onError: (error: Error) => void } | null = null;
  const discarded = new WeakSet<pg.PoolClient>();
  let stopped = false;
  let reconnectTimer: NodeJS.Timeout | undefined;

  /**
   * Gives a listening client up for good: its handlers off first, then the
   * connection closed rather than pooled (it held LISTEN state, and a pooled
   * client erring later would reach a handler that releases it again). Once
   * only, whichever path comes first (a connection error, a failed LISTEN,
   * stop).
   */
  const discard = (client: pg.PoolClient, onError: (error: Error) => void): void => {
    if (discarded.has(client)) return;
    discarded.add(client);
    client.removeAllListeners('notification');
    client.off('error', onError);
    // A late error on the closing connection has nowhere to go but here.
    client.on('error', () => undefined);
    client.release(true);
  };

  const listen = async (): Promise<void> => {
    const client = await pool.connect();
    const onError = (error: Error): void => {
      log.warn({ err: error }, 'webhook change listener lost its connection; reconnecting');
      discard(client, onError);
      if (listener?.client === client) listener = null;
      scheduleReconnect();
    };
    client.on('notification', (message) => deps.onChange(parseChange(message.payload)));
    client.on('error', onError);
    try {
      await client.query(`LISTEN ${CHANGE_CHANNEL}`);
    } catch (error) {
      discard(client, onError);
      throw error;
    }
    // Stopped while this reconnect was under way: nothing may listen now.
    if (stopped) {
      discard(client, onError);
      return;
    }
    listener = { client, onError };
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
        const { client, onError } = listener;
        listener = null;
        discard(client, onError);
      }
    },
  };
}
