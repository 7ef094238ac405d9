import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  receivedAt: number;
}

export interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

export interface ReceiverOptions {
  /**
   * Answer the admin API's verification challenges (a body whose type is
   * `webhook.verification`) by echoing `{"challenge": "<value>"}`, without
   * asking the handler and without recording them in `requests`. Default true;
   * false hands them to the handler like any other request (to test a
   * receiver that fails verification).
   */
  answerChallenges?: boolean;
}

export interface Receiver {
  url: string;
  /** Every request except the verification challenges answered automatically. */
  requests: ReceivedRequest[];
  /** The verification challenges answered automatically. */
  challenges: ReceivedRequest[];
  /** Decide the answer per request (may take its time); default 204. */
  respondWith(handler: (request: ReceivedRequest) => Answer | Promise<Answer>): void;
  close(): Promise<void>;
}

/** The challenge value when the body is a verification challenge, else null. */
export function challengeOf(body: string): string | null {
  if (!body.includes('webhook.verification')) return null;
  try {
    const parsed = JSON.parse(body) as { type?: unknown; challenge?: unknown };
    return parsed && parsed.type === 'webhook.verification' && typeof parsed.challenge === 'string' ? parsed.challenge : null;
  } catch {
    return null;
  }
}

/** A real HTTP endpoint on 127.0.0.1 that records what it is sent and passes the verification challenge. */
export async function startReceiver(options: ReceiverOptions = {}): Promise<Receiver> {
  const answerChallenges = options.answerChallenges ?? true;
  const requests: ReceivedRequest[] = [];
  const challenges: ReceivedRequest[] = [];
  let handler: Parameters<Receiver['respondWith']>[0] = () => ({ status: 204 });
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), receivedAt: Date.now() };
      const challenge = answerChallenges && req.method === 'POST' ? challengeOf(request.body) : null;
      if (challenge !== null) {
        challenges.push(request);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ challenge }));
        return;
      }
      requests.push(request);
      void Promise.resolve(handler(request)).then((answer) => {
        if (!res.destroyed) res.writeHead(answer.status, answer.headers ?? {}).end(answer.body ?? '');
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    requests,
    challenges,
    respondWith: (next) => void (handler = next),
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
