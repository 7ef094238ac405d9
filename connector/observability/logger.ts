import { pino, type Logger } from 'pino';
import { sensitiveKeyPaths } from '../../config/load.js';

export type { Logger } from 'pino';

/**
 * Fields that carry secrets wherever they appear in a log line. Config keys
 * marked sensitive are added, so a logged config never shows them.
 */
const SECRET_FIELDS = ['secret', 'secrets', 'signingSecret', 'apiKey', 'api_key', 'password', 'token', 'authorization', 'encryptionKey'];

export function redactPaths(): string[] {
  const paths = new Set<string>();
  for (const field of SECRET_FIELDS) {
    paths.add(field);
    paths.add(`*.${field}`);
  }
  for (const header of ['authorization', 'x-api-key', 'api-key', 'webhook-signature']) {
    paths.add(`headers["${header}"]`);
    paths.add(`*.headers["${header}"]`);
  }
  for (const path of sensitiveKeyPaths()) {
    paths.add(path);
    paths.add(`config.${path}`);
  }
  return [...paths];
}

/** The root logger: JSON lines on stdout, secrets censored. Components take `root.child({ component })`. */
export function createRootLogger(options: { level: string; destination?: pino.DestinationStream }): Logger {
  return pino(
    {
      level: options.level,
      base: { service: 'identity-webhooks' },
      redact: { paths: redactPaths(), censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination,
  );
}
