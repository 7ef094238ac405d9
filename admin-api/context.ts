import type { ConnectorConfig } from '../config/load.js';
import type { Pool } from '../connector/db/pool.js';
import type { SsrfGuard } from '../connector/delivery/ssrf-guard.js';
import type { EventCatalog } from '../connector/events/catalog.js';
import type { Logger } from '../connector/observability/logger.js';
import type { SecretBox } from '../connector/security/encryption.js';
import type { Principal } from './auth/tokens.js';
import type { TaskPublisher } from './task-publisher.js';
import type { Verifier } from './verification.js';

/** What the admin API's routes work with; built by main (or a test) and passed in. */
export interface AdminApiDeps {
  config: Readonly<ConnectorConfig>;
  pool: Pool;
  box: SecretBox;
  catalog: EventCatalog;
  publisher: TaskPublisher;
  verifier: Verifier;
  guard: SsrfGuard;
  log: Logger;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook on every /v1 request. */
    principal: Principal;
  }
}
