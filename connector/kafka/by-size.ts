import type { Message } from 'kafkajs';

/**
 * Bytes of keys and values per send request, below the broker's default
 * 1 MiB `max.message.bytes` with room for headers: kafkajs writes all of a
 * request's messages for one partition as one record batch, and the broker
 * refuses a batch over that limit whole, again on every try.
 */
export const MAX_SEND_BYTES = 512 * 1024;

const byteLength = (part: Buffer | string | null | undefined): number =>
  part === null || part === undefined ? 0 : typeof part === 'string' ? Buffer.byteLength(part) : part.length;

/**
 * Splits messages into the runs of one request each for a topic that takes
 * record batches of at most `topicLimitBytes` (its `max.message.bytes`): at
 * most that, and MAX_SEND_BYTES, of keys, values and headers (a record's
 * own overhead counted high). A topic made with a smaller limit than the
 * default refused runs of MAX_SEND_BYTES. A message larger than the bound
 * travels alone.
 */
export function bySize(messages: Message[], topicLimitBytes = Number.POSITIVE_INFINITY): Message[][] {
  const maxBytes = Math.min(MAX_SEND_BYTES, topicLimitBytes);
  const runs: Message[][] = [];
  let run: Message[] = [];
  let bytes = 0;
  for (const message of messages) {
    let size = byteLength(message.value) + byteLength(message.key) + 64;
    for (const [name, value] of Object.entries(message.headers ?? {})) {
      for (const one of Array.isArray(value) ? value : [value]) size += 8 + Buffer.byteLength(name) + byteLength(one as Buffer | string | undefined);
    }
    if (run.length > 0 && bytes + size > maxBytes) {
      runs.push(run);
      run = [];
      bytes = 0;
    }
    run.push(message);
    bytes += size;
  }
  if (run.length > 0) runs.push(run);
  return runs;
}

