import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createRootLogger } from '../../connector/observability/logger.js';

function capture(): { lines: () => Array<Record<string, unknown>>; stream: Writable } {
  const chunks: string[] = [];
  const stream = new Writable({ write: (chunk: Buffer, _enc, done) => { chunks.push(chunk.toString()); done(); } });
  return { stream, lines: () => chunks.join('').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('createRootLogger', () => {
  it('writes JSON with component child loggers and censors secrets wherever they sit', () => {
    const out = capture();
    const root = createRootLogger({ level: 'info', destination: out.stream });
    const child = root.child({ component: 'deliverer' });
    child.info({ webhook: { secret: 'whsec_abc', apiKey: 'k-123', url: 'https://x' }, headers: { 'webhook-signature': 'v1,xyz', 'x-api-key': 'k-123' } }, 'sent');
    root.info({ config: { database: { url: 'postgres://u:pw@h/db' }, secrets: { encryptionKey: 'AAAA' }, kafka: { sasl: { password: 'pw' } } } }, 'config');
    const [sent, config] = out.lines();
    expect(sent).toMatchObject({ level: 'info', component: 'deliverer', msg: 'sent', webhook: { secret: '[redacted]', apiKey: '[redacted]', url: 'https://x' } });
    expect(sent!['headers']).toEqual({ 'webhook-signature': '[redacted]', 'x-api-key': '[redacted]' });
    // Two levels down, and a webhook target's secrets (a list) whole.
    root.info({ task: { target: { signingSecrets: ['whsec_one', 'whsec_two'], apiKey: { header: 'x-api-key', value: 'k-456' } }, request: { headers: { authorization: 'Bearer t' } } } }, 'deep');
    const deep = JSON.stringify(out.lines()[2]);
    for (const secret of ['whsec_one', 'whsec_two', 'k-456', 'Bearer t']) expect(deep).not.toContain(secret);
    const text = JSON.stringify(config);
    for (const secret of ['postgres://u:pw@h/db', 'AAAA', '"pw"']) expect(text).not.toContain(secret);
  });
});
