/**
 * The admin API process, and the token commands an operator runs to let an
 * organization's admins in.
 */
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { ConfigError, loadConfig, type ConnectorConfig } from '../config/load.js';
import { migrateUp } from '../connector/db/migrate.js';
import { createPool } from '../connector/db/pool.js';
import { createHttpSender } from '../connector/delivery/http-sender.js';
import { createSsrfGuard } from '../connector/delivery/ssrf-guard.js';
import { loadEventCatalog } from '../connector/events/catalog.js';
import { createKafka } from '../connector/kafka/client.js';
import { stopOnSignals } from '../connector/lifecycle.js';
import { connectorTopics, ensureTopics, topicTakes } from '../connector/kafka/topics.js';
import { createRootLogger, type Logger } from '../connector/observability/logger.js';
import { createSecretBox } from '../connector/security/encryption.js';
import { buildAdminApp } from './app.js';
import { DEFAULT_TOKEN_LIFETIME, parseTokenLifetime } from './auth/tokens.js';
import { createToken, listTokens, revokeToken, tokenState } from './store/tokens.js';
import { createTaskPublisher } from './task-publisher.js';
import { createVerifier } from './verification.js';
import { createWebhookEventRelay, WEBHOOK_EVENTS_POLL_MS } from '../connector/subscriptions/webhook-events-relay.js';

const HELP = `identity-webhooks admin API

Usage: npm run admin-api -- <command> [options]

Commands:
  serve                     run the API (default): /v1 routes, /openapi.json, /docs,
                            /healthz, /readyz, /metrics on SERVER_PORT
  tokens create --organization <org> --subject <who> [--name <label>]
                [--expires-in <n>d|<n>h|never]
                            create a bearer token scoped to one organization;
                            it is printed once and stored only as a hash, and
                            stops working after --expires-in (default ${DEFAULT_TOKEN_LIFETIME})
  tokens list [--organization <org>]
                            list tokens (prefix, subject, created, last used,
                            active until / expired / revoked)
  tokens revoke <id>        revoke a token; it stops working at once

Configuration: environment variables, see docs/configuration.md.
SIGTERM or SIGINT: stop taking requests, finish those under way and the
verification challenges out, deliver the webhook change events in hand
(WEBHOOK_*), close the producer and the pool, exit 0.`;

async function serve(config: Readonly<ConnectorConfig>, log: Logger): Promise<void> {
  await migrateUp(config.database.url, log.child({ component: 'migrate' }));
  const pool = createPool({ url: config.database.url, max: config.database.poolSize, queryTimeoutMs: config.database.queryTimeoutMs, applicationName: 'identity-webhooks-admin-api' }, log);
  const box = createSecretBox(config.secrets.encryptionKey, config.secrets.previousEncryptionKeys);
  const guard = createSsrfGuard(config.http.ssrfAllowlist);
  const sender = createHttpSender({ ...config.http, guard });
  const kafka = createKafka(config.kafka, log, 'admin-api');
  // Tasks the API produces must land on the topic the deliverers read, with its partition count.
  const limits = await ensureTopics(kafka, connectorTopics(config), config.topics.replicationFactor);
  // The deliveries topic may have been made with a smaller limit than configured (see limitShortfalls).
  const publisher = await createTaskPublisher(kafka, config.topics.deliveries, topicTakes(limits, config.topics.deliveries, config.topics.deliveriesMaxMessageBytes));
  const { app, verifications } = await buildAdminApp(
    { config, pool, box, catalog: loadEventCatalog(), publisher, verifier: createVerifier({ sender, box, userAgent: config.http.userAgent }), guard, log },
    { postgres: async () => void (await pool.query('SELECT 1')), kafka: () => publisher.check() },
  );
  const address = await app.listen({ host: config.server.host, port: config.server.port });
  log.info({ address }, 'admin API listening');
  const webhookEvents = createWebhookEventRelay({ pool, publish: publisher.publish, log: log.child({ component: 'webhook-events' }), intervalMs: WEBHOOK_EVENTS_POLL_MS });
  webhookEvents.start();

  stopOnSignals({
    log,
    timeoutMs: config.shutdown.timeoutMs,
    description: 'stop taking requests, finish those under way, close',
    stop: async () => {
      await app.close();
      await verifications.drain();
      // Before the producer closes: a pass under way publishes its tasks and deletes its rows, or does neither.
      await webhookEvents.stop();
      await publisher.close();
      await sender.close();
      await pool.end();
    },
  });
}

/** The options and arguments (after the action) each tokens action takes: any other is refused, not ignored. */
const TOKENS_ACTIONS: Record<string, { options: readonly string[]; args: number }> = {
  create: { options: ['organization', 'subject', 'name', 'expires-in'], args: 0 },
  list: { options: ['organization'], args: 0 },
  revoke: { options: [], args: 1 },
};

function tokensUsageProblem(positionals: readonly string[], values: Record<string, unknown>): string | null {
  const [action, id] = positionals;
  const shape = action !== undefined && Object.hasOwn(TOKENS_ACTIONS, action) ? TOKENS_ACTIONS[action] : undefined;
  if (!shape) return `unknown tokens action "${action ?? ''}"; use create, list or revoke (see --help)`;
  // `tokens list --subject x` listing every token, or `revoke <id> --name y`, would do other than was meant.
  const stray = Object.keys(values).find((option) => !shape.options.includes(option));
  if (stray) return `tokens ${action} takes no --${stray}${shape.options.length ? ` (it takes ${shape.options.map((o) => `--${o}`).join(', ')})` : ''}`;
  if (positionals.length > 1 + shape.args) return `tokens ${action}: unexpected argument "${positionals[1 + shape.args]}" (see --help)`;
  if (action === 'create') return values['organization'] && values['subject'] ? null : 'tokens create needs --organization and --subject';
  if (action === 'revoke') return id && /^[0-9a-f-]{36}$/i.test(id) ? null : 'tokens revoke needs the token id (see tokens list)';
  return null;
}

interface TokensCommand {
  action: string | undefined;
  id: string | undefined;
  values: { organization?: string; subject?: string; name?: string };
  /** How long a created token lives (null: for good). */
  lifetimeMs: number | null;
}

/** The tokens command's arguments, or the one-line reason they are wrong (before any config is read or anything connects). */
function parseTokensArgs(args: string[]): TokensCommand | { problem: string } {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: { organization: { type: 'string' }, subject: { type: 'string' }, name: { type: 'string' }, 'expires-in': { type: 'string' } },
    });
  } catch (error) {
    // Node's message goes on to explain positional arguments after --, which is no help here.
    return { problem: `${(error as Error).message.split('. ')[0]} (see --help)` };
  }
  const [action, id] = parsed.positionals;
  const usage = tokensUsageProblem(parsed.positionals, parsed.values);
  if (usage) return { problem: usage };
  if (action !== 'create') return { action, id, values: parsed.values, lifetimeMs: null };
  const lifetime = parseTokenLifetime(parsed.values['expires-in'] ?? DEFAULT_TOKEN_LIFETIME);
  return 'problem' in lifetime ? lifetime : { action, id, values: parsed.values, lifetimeMs: lifetime.ms };
}

async function tokens(config: Readonly<ConnectorConfig>, log: Logger, command: TokensCommand): Promise<number> {
  const { action, id, values, lifetimeMs } = command;
  await migrateUp(config.database.url, log.child({ component: 'migrate' }));
  const pool = createPool({ url: config.database.url, max: 1, queryTimeoutMs: config.database.queryTimeoutMs, applicationName: 'identity-webhooks-tokens' }, log);
  try {
    if (action === 'create') {
      const { token, info } = await createToken(pool, { organization: values.organization!, subject: values.subject!, name: values.name ?? '', lifetimeMs });
      const expiry = info.expiresAt ? `expires ${info.expiresAt}` : 'never expires';
      console.error(`token ${info.id} for organization "${info.organization}" (subject "${info.subject}", ${expiry}); it is shown only now:`);
      console.log(token);
      return 0;
    }
    if (action === 'list') {
      for (const t of await listTokens(pool, values.organization)) {
        console.log([t.id, t.organization, t.subject, t.name || '-', `${t.prefix}…`, `created ${t.createdAt}`, `last used ${t.lastUsedAt ?? 'never'}`, tokenState(t)].join('\t'));
      }
      return 0;
    }
    if (!(await revokeToken(pool, id!))) {
      console.error(`admin-api: no live token has id ${id}`);
      return 1;
    }
    console.error(`token ${id} revoked`);
    return 0;
  } finally {
    await pool.end();
  }
}

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({ args: argv, allowPositionals: true, strict: false, options: { help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const command = positionals[0] ?? 'serve';
  if (command !== 'serve' && command !== 'tokens') {
    console.error(`admin-api: unknown command "${command}"; run with --help`);
    return 2;
  }
  if (command === 'tokens' && argv[0] !== 'tokens') {
    // Read only after the command, an option before it (`--organization=acme tokens list`) would be dropped unseen.
    console.error(`admin-api: options go after the command: admin-api tokens <action> [options] (got ${argv.join(' ')})`);
    return 2;
  }
  const tokensCommand = command === 'tokens' ? parseTokensArgs(argv.slice(1)) : null;
  if (tokensCommand && 'problem' in tokensCommand) {
    console.error(`admin-api: ${tokensCommand.problem}`);
    return 2;
  }
  if (command === 'serve' && argv.length > (argv[0] === 'serve' ? 1 : 0)) {
    // serve takes no options: settings are environment variables.
    console.error(`admin-api: serve takes no arguments besides --help (got ${argv.join(' ')}); settings are environment variables (docs/configuration.md)`);
    return 2;
  }
  let config: Readonly<ConnectorConfig>;
  try {
    config = loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) console.error(`admin-api: config error: ${problem}`);
    return 78;
  }
  // The token commands print the token on stdout, so their log lines go to stderr.
  const destination = command === 'tokens' ? pino.destination(2) : undefined;
  const log = createRootLogger({ level: config.log.level, destination }).child({ component: 'admin-api' });
  if (tokensCommand) return tokens(config, log, tokensCommand);
  await serve(config, log);
  return -1;
}

main(process.argv.slice(2)).then((code) => {
  if (code >= 0) process.exit(code);
}, (error: unknown) => {
  console.error(`admin-api: start-up failed: ${(error as Error).message}`);
  process.exit(1);
});
