import type { Message } from 'kafkajs';

/**
 * Bytes of keys and values per send request, below the broker's default
 * 1 MiB `max.message.bytes` with room for headers: kafkajs writes all of a
 * request's messages for one partition as one record batch, and the broker
 * refuses a batch over that limit whole, again on every try.
 */
export const MAX_SEND_BYTES = 512 * 1024;

/** Splits messages into runs of at most `maxBytes` of keys and values. */
export function bySize(messages: Message[], maxBytes: number): Message[][] {
  const runs: Message[][] = [];
  let run: Message[] = [];
  let bytes = 0;
  for (const message of messages) {
    const size = (message.value?.length ?? 0) + (typeof message.key === 'string' ? message.key.length : (message.key?.length ?? 0)) + 64;
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

