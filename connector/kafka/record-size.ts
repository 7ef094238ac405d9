import type { Message } from 'kafkajs';

/**
 * Bytes a record costs in a record batch besides its key, value and header
 * names and values (length varints, attributes, deltas), plus the batch's own
 * 61-byte header, rounded up: what a broker counts against a topic's
 * `max.message.bytes` when the record travels alone.
 */
export const RECORD_OVERHEAD_BYTES = 128;

const byteLength = (part: Buffer | string | null | undefined): number =>
  part === null || part === undefined ? 0 : typeof part === 'string' ? Buffer.byteLength(part) : part.length;

/** The size of a message alone in a record batch, as the broker measures it (an upper bound). */
export function recordBytes(message: Pick<Message, 'key' | 'value' | 'headers'>): number {
  let bytes = RECORD_OVERHEAD_BYTES + byteLength(message.key) + byteLength(message.value);
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    for (const one of Array.isArray(value) ? value : [value]) bytes += 8 + Buffer.byteLength(name) + byteLength(one as Buffer | string | undefined);
  }
  return bytes;
}
