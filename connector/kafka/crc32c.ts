import { createRequire, Module } from 'node:module';

/** CRC-32C (Castagnoli), reflected polynomial: the checksum of Kafka's record batches (magic 2). */
const POLYNOMIAL = 0x82f63b78;

/**
 * Eight tables of 256: table k holds each byte's CRC followed by k zero
 * bytes, so eight bytes fold into the CRC in one step of eight independent
 * lookups (slicing-by-8) rather than eight dependent steps. Separate arrays
 * rather than one with offsets: V8 runs the loop about 8 % faster.
 */
const [T0, T1, T2, T3, T4, T5, T6, T7] = (() => {
  const tables = Array.from({ length: 8 }, () => new Int32Array(256));
  const first = tables[0]!;
  for (let byte = 0; byte < 256; byte += 1) {
    let crc = byte;
    for (let bit = 0; bit < 8; bit += 1) crc = crc & 1 ? (crc >>> 1) ^ POLYNOMIAL : crc >>> 1;
    first[byte] = crc;
  }
  for (let byte = 0; byte < 256; byte += 1) {
    let crc = first[byte]!;
    for (let k = 1; k < 8; k += 1) {
      crc = first[crc & 0xff]! ^ (crc >>> 8);
      tables[k]![byte] = crc;
    }
  }
  return tables as [Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array];
})();

/** The CRC-32C of `bytes`, unsigned: about twice as fast as a byte at a time (650–700 against 330 MB/s here). */
export function crc32c(bytes: Uint8Array): number {
  let crc = -1;
  let i = 0;
  for (const whole = bytes.length - 7; i < whole; i += 8) {
    const low = crc ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
    crc = T7[low & 0xff]! ^ T6[(low >>> 8) & 0xff]! ^ T5[(low >>> 16) & 0xff]! ^ T4[low >>> 24]!
      ^ T3[bytes[i + 4]!]! ^ T2[bytes[i + 5]!]! ^ T1[bytes[i + 6]!]! ^ T0[bytes[i + 7]!]!;
  }
  for (; i < bytes.length; i += 1) crc = T0[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}

/** kafkajs's checksum module, which its record batch encoder requires once, when kafkajs loads. */
const KAFKAJS_CRC32C = 'kafkajs/src/protocol/recordBatch/crc32C/index.js';
const KAFKAJS_RECORD_BATCH = 'kafkajs/src/protocol/recordBatch/v0/index.js';

/**
 * kafkajs computes the CRC-32C of every record batch it produces one byte at
 * a time: for an attempt record of 900 bytes that was 3.5–4.8 µs, about as
 * much as serializing it, on every delivery (and on every task the router
 * writes). The same checksum eight bytes at a time (`crc32c` above) takes
 * half of that.
 *
 * kafkajs offers no hook for it, and its encoder keeps the function it
 * required, so ours has to be in Node's module cache under kafkajs's path
 * before kafkajs loads: this module is imported, for this side effect, ahead
 * of kafkajs by the modules that import kafkajs (connector/kafka/client.ts,
 * partitioner.ts). Returns whether kafkajs uses ours: false when kafkajs was
 * loaded first (it then keeps its own, slower but correct) or its files moved
 * in an upgrade (a test says so).
 */
export function useFastCrc32cInKafkajs(): boolean {
  const require = createRequire(import.meta.url);
  let path: string;
  let encoderPath: string;
  try {
    path = require.resolve(KAFKAJS_CRC32C);
    encoderPath = require.resolve(KAFKAJS_RECORD_BATCH);
  } catch {
    return false;
  }
  const cached = require.cache[path];
  if (cached) return cached.exports === crc32c;
  if (require.cache[encoderPath]) return false;
  const module = new Module(path);
  module.filename = path;
  module.loaded = true;
  module.exports = crc32c;
  require.cache[path] = module;
  return true;
}

useFastCrc32cInKafkajs();
