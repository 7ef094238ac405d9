import { pino, type Logger } from 'pino';
import { sensitiveKeyPaths } from '../../config/load.js';

export type { Logger } from 'pino';

/**
 * Fields that carry secrets wherever they appear in a log line. Config keys
 * marked sensitive are added, so a logged config never shows them.
 */
const SECRET_FIELDS = [
  'secret', 'secrets', 'signingSecret', 'signingSecrets', 'apiKey', 'api_key', 'password', 'token', 'authorization', 'encryptionKey',
  // Columns of a webhook row, should one be logged whole.
  'signing_secret_enc', 'previous_signing_secret_enc', 'api_key_enc',
];

/** How deep below the line's own fields a secret is still found (`{ task: { target: { apiKey } } }`). */
const DEPTHS = ['', '*.', '*.*.'];

export function redactPaths(): string[] {
  const paths = new Set<string>();
  for (const depth of DEPTHS) {
    for (const field of SECRET_FIELDS) paths.add(`${depth}${field}`);
    for (const header of ['authorization', 'x-api-key', 'api-key', 'webhook-signature']) paths.add(`${depth}headers["${header}"]`);
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
