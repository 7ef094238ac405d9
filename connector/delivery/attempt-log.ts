import type { Message, Producer } from 'kafkajs';
import type { AttemptRecord } from './attempt-record.js';

/**
 * Every attempt goes to the attempts topic. Records are batched for a few
 * milliseconds so a busy deliverer sends one request for many attempts, and
 * packed several to a Kafka message (see packAttempts); `record` resolves
 * once Kafka has the record.
 */
export interface AttemptLog {
  record(attempt: AttemptRecord): Promise<void>;
  flush(): Promise<void>;
}

/**
 * Upper bound of a packed message's value, well under the broker's default
 * message limit (1 MiB) so that a few packs landing in one partition's batch
 * still fit.
 */
export const MAX_PACK_BYTES = 128 * 1024;

/**
 * Attempt records (each a JSON object) as Kafka message values, each a JSON
 * array of consecutive records up to `maxBytes` (a larger record travels
 * alone). kafkajs spends more per message than on a record's bytes, so one
 * message per record cost the deliverer more than signing and sending did.
 */
export function packAttempts(records: readonly string[], maxBytes: number): string[] {
  const packs: string[] = [];
  let start = 0;
  // Brackets and commas: one byte per record plus one.
  let bytes = 1;
  for (let i = 0; i < records.length; i += 1) {
    const size = Buffer.byteLength(records[i]!) + 1;
    if (i > start && bytes + size > maxBytes) {
      packs.push(`[${records.slice(start, i).join(',')}]`);
      start = i;
      bytes = 1;
    }
    bytes += size;
  }
  if (start < records.length) packs.push(`[${records.slice(start).join(',')}]`);
  return packs;
}

interface Batch {
  records: string[];
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

export function createAttemptLog(producer: Producer, topic: string, options: { lingerMs: number; maxBatch: number; maxPackBytes?: number }): AttemptLog {
  const maxPackBytes = options.maxPackBytes ?? MAX_PACK_BYTES;
  let batch: Batch | null = null;
  let timer: NodeJS.Timeout | undefined;

  const flush = async (): Promise<void> => {
    clearTimeout(timer);
    timer = undefined;
    const current = batch;
    batch = null;
    if (!current) return;
    // No key: the sink needs no order among attempts (each row has its time), so packs spread over the partitions.
    const messages: Message[] = packAttempts(current.records, maxPackBytes).map((value) => ({ key: null, value }));
    try {
      await producer.send({ topic, messages });
      current.resolve();
    } catch (error) {
      current.reject(error);
    }
  };

  return {
    record(attempt) {
      // One promise per batch, shared by its records: they are written, or not, together.
      batch ??= newBatch();
      const { written } = batch;
      batch.records.push(JSON.stringify(attempt));
      if (batch.records.length >= options.maxBatch) void flush();
      else timer ??= setTimeout(() => void flush(), options.lingerMs);
      return written;
    },
    flush,
  };
}
