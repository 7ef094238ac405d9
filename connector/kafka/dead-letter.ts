import type { IHeaders, KafkaMessage, Message } from 'kafkajs';
import type { ConnectorError } from '../errors.js';
import { recordBytes } from './record-size.js';

/**
 * A record that cannot be processed, kept for inspection and replay: its key,
 * value and headers (or, where only part of it failed, that part in its
 * place), plus where it came from and why it failed.
 *
 * With `maxBytes` (the dead-letter topic's limit), a letter that would pass it
 * keeps everything but its value, with `dlq.value.omitted.bytes` saying how
 * large the value was: a letter the broker refuses would be sent again on
 * every try, holding up every record behind it. Still too large, it leaves
 * out the record's own headers too, then its key (`dlq.headers.omitted.bytes`,
 * `dlq.key.omitted.bytes`), keeping where it came from and why it failed.
 * What is left out is still at its source offset, which the headers give,
 * for as long as that topic keeps it.
 */
export function deadLetterOf(
  source: { topic: string; partition: number; message: KafkaMessage },
  error: ConnectorError,
  content: Pick<Message, 'key' | 'value'> = source.message,
  maxBytes = Number.POSITIVE_INFINITY,
): Message {
  const { topic, partition, message } = source;
  const failure: Record<string, string> = {
    'dlq.source.topic': topic,
    'dlq.source.partition': String(partition),
    'dlq.source.offset': message.offset,
    'dlq.source.timestamp': message.timestamp,
    'dlq.error.code': error.code,
    'dlq.error.message': error.message.slice(0, 1000),
    'dlq.failed.at': new Date().toISOString(),
  };
  const own = producibleHeaders(message.headers);
  if (own.nulls.length > 0) failure['dlq.null.headers'] = own.nulls.join(',');
  const letter: Message = { key: content.key, value: content.value, headers: { ...own.headers, ...failure } };
  if (recordBytes(letter) <= maxBytes) return letter;
  const valueOmitted = { 'dlq.value.omitted.bytes': String(byteLength(content.value)) };
  const withoutValue: Message = { ...letter, value: null, headers: { ...letter.headers, ...valueOmitted } };
  if (recordBytes(withoutValue) <= maxBytes) return withoutValue;
  const ownHeaderBytes = recordBytes({ value: null, headers: own.headers }) - recordBytes({ value: null });
  const withoutHeaders: Message = { key: content.key, value: null, headers: { ...failure, ...valueOmitted, 'dlq.headers.omitted.bytes': String(ownHeaderBytes) } };
  if (recordBytes(withoutHeaders) <= maxBytes) return withoutHeaders;
  return { key: null, value: null, headers: { ...withoutHeaders.headers, 'dlq.key.omitted.bytes': String(byteLength(content.key)) } };
}

/**
 * A record's headers as kafkajs can produce them. Kafka lets a header's value
 * be null, and kafkajs reads one as null, but sizing a header to send throws
 * on a null value (a TypeError, which kafkajs does not retry): a poison record
 * carrying one would fail its dead letter, and the batch, on every try. Such
 * values travel as empty, their names in `dlq.null.headers`.
 */
function producibleHeaders(headers: IHeaders | undefined): { headers: IHeaders; nulls: string[] } {
  const producible: IHeaders = {};
  const nulls: string[] = [];
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (Array.isArray(value)) {
      if (value.some((part) => part === null || part === undefined)) nulls.push(name);
      producible[name] = value.map((part) => part ?? EMPTY);
    } else if (value === null || value === undefined) {
      nulls.push(name);
      producible[name] = EMPTY;
    } else producible[name] = value;
  }
  return { headers: producible, nulls };
}

const EMPTY = Buffer.alloc(0);

/** Why a letter of deadLetterOf failed: its `dlq.error.code`, which every form of it keeps. */
export function deadLetterCode(letter: Message): string {
  return String(letter.headers?.['dlq.error.code']);
}

const byteLength = (part: Buffer | string | null | undefined): number =>
  part === null || part === undefined ? 0 : typeof part === 'string' ? Buffer.byteLength(part) : part.length;
