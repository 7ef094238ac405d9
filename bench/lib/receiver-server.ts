/**
 * A fast webhook receiver in its own process, so it does not share an event
 * loop with what is measured. Paths under /slow/ answer after SLOW_MS.
 * GET /stats → counts, first/last arrival and end-to-end latencies; POST /reset[?mark=N]
 * also records when the Nth fast request arrived (markAt), to time a run's steady second half.
 */
import { createServer } from 'node:http';

const slowMs = Number(process.env['SLOW_MS'] ?? 10_000);
let mark = 0;
let stats = { fast: 0, slow: 0, firstAt: 0, lastAt: 0, markAt: 0, latencies: [] as number[] };

const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/stats') return void res.end(JSON.stringify(stats));
  if (req.method === 'POST' && req.url?.startsWith('/reset')) {
    mark = Number(new URL(req.url, 'http://receiver').searchParams.get('mark') ?? 0);
    stats = { fast: 0, slow: 0, firstAt: 0, lastAt: 0, markAt: 0, latencies: [] };
    return void res.end('{}');
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const now = Date.now();
    const slow = req.url?.startsWith('/slow/') ?? false;
    if (slow) stats.slow += 1;
    else {
      stats.fast += 1;
      stats.firstAt ||= now;
      stats.lastAt = now;
      if (stats.fast === mark) stats.markAt = now;
      const occurredAt = Number(/"producedAt":"?(\d+)/.exec(Buffer.concat(chunks).toString())?.[1] ?? 0);
      if (occurredAt > 0 && stats.latencies.length < 200_000) stats.latencies.push(now - occurredAt);
    }
    if (slow) setTimeout(() => res.writeHead(204).end(), slowMs);
    else res.writeHead(204).end();
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env['PORT'] ?? 0), '127.0.0.1', () => {
  const address = server.address();
  console.log(JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 }));
});
