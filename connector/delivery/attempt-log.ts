import type { Message, Producer } from 'kafkajs';
import type { Logger } from '../observability/logger.js';
import type { AttemptRecord } from './attempt-record.js';
import { bySize } from '../kafka/by-size.js';
import { RECORD_OVERHEAD_BYTES } from '../kafka/record-size.js';

/**
 * Every attempt goes to the attempts topic. Records are batched for a few
 * milliseconds so a busy deliverer sends one request for many attempts, and
 * packed several to a Kafka message (see packAttempts); `record` resolves
 * once Kafka has the record.
 *
 * A batch Kafka refuses (the broker restarting, the producer's own retries
 * run out) is sent again, with a growing pause, until it is taken (and at
 * once when another batch is taken, so a recovered broker gets the backlog
 * without waiting out the longest pause): its tasks are committed only once
 * their attempts are logged, so a batch given up on would hold its
 * partitions' committed offsets back until a restart, which would then send
 * everything since again.
 */
export interface AttemptLog {
  record(attempt: AttemptRecord): Promise<void>;
  /** Sends the batch being gathered (one try; a failure is retried later). */
  flush(): Promise<void>;
  /** Flushes, then stops retrying: batches still not taken are rejected (their tasks stay uncommitted). */
  close(): Promise<void>;
}

export interface AttemptLogOptions {
  lingerMs: number;
  maxBatch: number;
  /**
   * The attempts topic's `max.message.bytes`, where it is smaller than the defaults allow for: packs and the runs of
   * one request stay within it, or the topic would refuse them on every try.
   */
  topicLimitBytes?: number;
  /** First pause before a refused batch is sent again; it doubles up to maxRetryDelayMs. */
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
  log: Logger;
}

/**
 * Upper bound of a packed message's value, well under the broker's default
 * message limit (1 MiB) so that a few packs landing in one partition's batch
 * still fit.
 */
export const MAX_PACK_BYTES = 128 * 1024;

/** Below the bound a pack is sized for, so that records a little larger than the ones before rarely pass it. */
const PACK_FILL = 0.85;

/**
 * Attempt records as Kafka message values, each a JSON array of consecutive
 * records up to `maxBytes` (a larger record travels alone). kafkajs spends
 * more per message than on a record's bytes, so one message per record cost
 * the deliverer more than signing and sending did.
 *
 * Each pack is one JSON.stringify of its records and one UTF-8 encoding:
 * half the CPU of stringifying records one by one and writing each into the
 * pack (6.6 against 13.2 µs a record of 900 bytes, measured alone). A pack's
 * size is known only once it is written, so how many records go in one is
 * guessed from the bytes per record seen so far (the first record's, to
 * begin with); a pack that still passes the bound is written again smaller.
 */
export function packAttempts(records: readonly unknown[], maxBytes: number, hardMaxBytes = Number.POSITIVE_INFINITY): Buffer[] {
  const packs: Buffer[] = [];
  if (records.length === 0) return packs;
  let bytesPerRecord = Buffer.byteLength(JSON.stringify(records[0]));
  for (let start = 0; start < records.length;) {
    let count = Math.min(records.length - start, Math.max(1, Math.floor((maxBytes * PACK_FILL) / bytesPerRecord)));
    let pack: Buffer = Buffer.from(JSON.stringify(records.slice(start, start + count)));
    while (pack.length > maxBytes && count > 1) {
      count = Math.max(1, Math.min(count - 1, Math.floor((count * maxBytes * PACK_FILL) / pack.length)));
      pack = Buffer.from(JSON.stringify(records.slice(start, start + count)));
    }
    // A pack past the hard bound holds one record (the pack bound is never above it): that record is cut to fit.
    if (count === 1 && pack.length > hardMaxBytes) pack = cutToFit(records[start], hardMaxBytes) ?? pack;
    packs.push(pack);
    bytesPerRecord = Math.max(1, pack.length / count);
    start += count;
  }
  return packs;
}

/** Ends a response excerpt cut so that its record fits the attempts topic. */
export const CUT_MARK = ' [cut to fit the attempts topic]';

/**
 * A record alone past what the attempts topic takes (`hardMaxBytes`), its
 * response excerpt cut until it fits: besides the event, which the
 * deliveries topic bounds, the excerpt (up to HTTP_MAX_RESPONSE_BYTES) is
 * the one large part. A record the topic refused would be sent again on
 * every try, and no attempt behind it would be logged or committed.
 */
function cutToFit(record: unknown, hardMaxBytes: number): Buffer | null {
  const full = record as { responseBody?: unknown };
  if (typeof full.responseBody !== 'string') return null;
  let body = full.responseBody;
  let pack = Buffer.from(JSON.stringify([full]));
  while (pack.length > hardMaxBytes && body.length > 0) {
    // In proportion to the bytes the excerpt takes in the pack (escaped, as UTF-8), then again while still over.
    const bodyBytes = Buffer.byteLength(JSON.stringify(body)) - 2;
    const keep = Math.floor((body.length * Math.max(0, bodyBytes - (pack.length - hardMaxBytes))) / Math.max(1, bodyBytes));
    body = body.slice(0, Math.min(keep, body.length - 1));
    // Not half a surrogate pair: Postgres refuses a lone one in JSON text.
    if (/[\uD800-\uDBFF]$/.test(body)) body = body.slice(0, -1);
    pack = Buffer.from(JSON.stringify([{ ...full, responseBody: body + CUT_MARK }]));
  }
  return pack;
}

interface Batch {
  /** Serialized at flush, in the linger timer's turn: not between a webhook's response and its next request. */
  records: AttemptRecord[];
  written: Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

function newBatch(): Batch {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const written = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { records: [], written, resolve, reject };
}

export function createAttemptLog(producer: Producer, topic: string, options: AttemptLogOptions): AttemptLog {
  const topicLimit = options.topicLimitBytes ?? Number.POSITIVE_INFINITY;
  // A pack alone in a record batch: the topic's limit less a record's and a batch's overhead.
  const maxPackBytes = Math.min(MAX_PACK_BYTES, topicLimit - RECORD_OVERHEAD_BYTES);
  const retryDelayMs = options.retryDelayMs ?? 500;
  const maxRetryDelayMs = options.maxRetryDelayMs ?? 30_000;
  let batch: Batch | null = null;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  /** Refused batches waiting for their next try, with how to send each now or give it up. */
  const retries = new Map<NodeJS.Timeout, { sendNow: () => void; giveUp: () => void }>();
  /** When Kafka began refusing batches, while it still does. */
  let refusedSince: number | null = null;

  const send = async (current: Batch, messages: Message[], tries: number): Promise<void> => {
    try {
      // In requests the broker takes whole: kafkajs writes a request's messages for one partition as one record
      // batch, and a large record sharing a batch with packs could pass the topic's limit, refused on every try.
      // After a failure every run is sent again; the sink writes each attempt once (by its id).
      for (const run of bySize(messages, topicLimit)) await producer.send({ topic, messages: run });
      current.resolve();
    } catch (error) {
      if (closed) return current.reject(error);
      const delayMs = Math.min(retryDelayMs * 2 ** tries, maxRetryDelayMs);
      // One warning when Kafka starts refusing, not one per batch: an outage of seconds refuses hundreds.
      if (refusedSince === null) {
        refusedSince = Date.now();
        options.log.warn({ err: error, records: current.records.length, retryInMs: delayMs }, 'attempt records not written; sending them again until Kafka takes them');
      } else options.log.debug({ err: error, records: current.records.length, retryInMs: delayMs }, 'attempt records not written; sending them again');
      const again = (): void => {
        clearTimeout(retry);
        retries.delete(retry);
        void send(current, messages, tries + 1);
      };
      const retry = setTimeout(again, delayMs);
      retries.set(retry, { sendNow: again, giveUp: () => current.reject(error) });
      return;
    }
    if (refusedSince !== null) {
      options.log.info({ refusedForMs: Date.now() - refusedSince, waiting: retries.size }, 'attempt records written again');
      refusedSince = null;
    }
    // Kafka takes records again: batches waiting out a long pause from the outage go now, not up to 30 s later.
    for (const { sendNow } of [...retries.values()]) sendNow();
  };

  const flush = async (): Promise<void> => {
    clearTimeout(timer);
    timer = undefined;
    const current = batch;
    batch = null;
    if (!current) return;
    // No key: the sink needs no order among attempts (each row has its time), so packs spread over the partitions.
    const messages: Message[] = packAttempts(current.records, maxPackBytes, topicLimit - RECORD_OVERHEAD_BYTES).map((value) => ({ key: null, value }));
    await send(current, messages, 0);
  };

  return {
    record(attempt) {
      // One promise per batch, shared by its records: they are written, or not, together.
      batch ??= newBatch();
      const { written } = batch;
      batch.records.push(attempt);
      if (batch.records.length >= options.maxBatch) void flush();
      else timer ??= setTimeout(() => void flush(), options.lingerMs);
      return written;
    },
    flush,
    async close() {
      await flush();
      closed = true;
      for (const [retry, { giveUp }] of retries) {
        clearTimeout(retry);
        giveUp();
      }
      retries.clear();
    },
  };
}
