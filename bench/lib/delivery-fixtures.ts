/** What the delivery benchmarks share: the receiver process, the task and request they send, and the raw loop. */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'undici';
import type { ConnectorConfig } from '../../config/load.js';
import { buildWebhookRequest } from '../../connector/delivery/request.js';
import { generateSigningSecret } from '../../connector/delivery/signature.js';
import { taskIdFor, type DeliveryTask } from '../../connector/delivery/task.js';
import type { WebhookTarget } from '../../connector/subscriptions/webhook.js';

/** Requests in flight, for the deliverer and the raw loop alike. */
export const MAX_IN_FLIGHT = 64;

export interface Stats { fast: number; slow: number; firstAt: number; lastAt: number; markAt: number; latencies: number[] }

export interface Receiver { url: string; stats: () => Promise<Stats>; reset: (mark?: number) => Promise<void>; child: ChildProcess }

/** The receiver (bench/lib/receiver-server.ts) in a process of its own, so its CPU is not the measured side's. */
export async function startReceiver(): Promise<Receiver> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/lib/receiver-server.ts'], { stdio: ['ignore', 'pipe', 'inherit'] });
  // Also when the benchmark fails (it exits with 1): a receiver left behind would hold its port and a core's share.
  process.once('exit', () => child.kill());
  const port = await new Promise<number>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve((JSON.parse(d.toString()) as { port: number }).port)));
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    child,
    stats: async () => (await (await fetch(`${url}/stats`)).json()) as Stats,
    reset: async (mark = 0) => void (await fetch(`${url}/reset?mark=${mark}`, { method: 'POST' })),
  };
}

/** One task of the throughput and memory backlogs. */
export function benchTask(webhookId: string, organization: string, eventId: string): DeliveryTask {
  return {
    v: 1, taskId: taskIdFor(eventId, webhookId), webhookId, organization, attempt: 1, routedAt: Date.now(),
    event: { eventId, eventType: 'USER_CREATED', family: 'user', occurredAt: Date.now(), organization, actor: null, source: 'bench', payload: { userId: eventId } },
  };
}

/**
 * What the baseline sends: a webhook request exactly as the deliverer would
 * send it for one of the benchmark's tasks (same headers, signature, body
 * format and size), built once. The raw loop then differs from the deliverer
 * only in doing nothing else, so the ratio measures our work per delivery,
 * not a smaller request.
 */
export function sampleRequest(config: Readonly<ConnectorConfig>): { headers: Record<string, string>; body: string } {
  const webhookId = randomUUID();
  const organization = 'bench-org';
  const task = benchTask(webhookId, organization, randomUUID());
  const target: WebhookTarget = {
    id: webhookId, organization, name: 'bench', url: 'http://127.0.0.1/', bodyFormat: 'parallelworks', ordering: 'relaxed',
    signingSecrets: [generateSigningSecret()], apiKey: null, deliverable: true,
  };
  const { headers, body } = buildWebhookRequest(task, target, Math.floor(Date.now() / 1000), config.http.userAgent);
  return { headers, body };
}

/** Runs `send(i)` for every i below `count`, `concurrency` at a time. */
export async function inFlight(count: number, concurrency: number, send: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) await send(next++);
  }));
}

/** The baseline: the same number of POSTs with the same concurrency; no Kafka, nothing built or signed per request. */
export async function rawLoop(url: string, count: number, sample: { headers: Record<string, string>; body: string }, concurrency = MAX_IN_FLIGHT): Promise<number> {
  const agent = new Agent({ keepAliveTimeout: 30_000 });
  const started = performance.now();
  await inFlight(count, concurrency, async () => {
    const response = await request(`${url}/raw`, { method: 'POST', body: sample.body, headers: sample.headers, dispatcher: agent });
    await response.body.dump();
  });
  const elapsed = performance.now() - started;
  await agent.close();
  return count / (elapsed / 1000);
}

/**
 * Discarded raw-loop passes that warm the receiver process until its rate settles (it takes tens of thousands of
 * requests to reach full speed), so no side meets it cold.
 */
export async function warmReceiver(url: string, sample: { headers: Record<string, string>; body: string }): Promise<void> {
  for (let pass = 0, previous = 0; pass < 6; pass += 1) {
    const rate = await rawLoop(url, 10_000, sample);
    if (previous > 0 && Math.abs(rate - previous) / previous < 0.1) return;
    previous = rate;
  }
}
