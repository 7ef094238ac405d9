import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { classify } from '../../connector/errors.js';
import { boundAvroBlockCounts, mayTakeNoBytes } from '../../connector/ingest/avro-block-bounds.js';
import { createAvroDecoder } from '../../connector/ingest/decode.js';
import type { SchemaRegistryClient } from '../../connector/kafka/schema-registry.js';

/** An Avro long: zig-zag, then 7 bits a byte. */
function long(n: bigint): Buffer {
  let z = n >= 0n ? n << 1n : (-n << 1n) - 1n;
  const bytes: number[] = [];
  do {
    const low = Number(z & 0x7fn);
    z >>= 7n;
    bytes.push(z > 0n ? low | 0x80 : low);
  } while (z > 0n);
  return Buffer.from(bytes);
}
const str = (s: string): Buffer => Buffer.concat([long(BigInt(Buffer.byteLength(s))), Buffer.from(s)]);

const reader: avro.Schema = {
  type: 'record', name: 'Event', fields: [
    { name: 'attributes', type: { type: 'map', values: 'string' } },
    { name: 'tags', type: { type: 'array', items: 'string' } },
    { name: 'marks', type: { type: 'array', items: 'null' }, default: [] },
  ],
};
// The writer has no `marks`: records go through a resolver, as a producer on an older schema's do.
const writer: avro.Schema = { type: 'record', name: 'Event', fields: [reader.fields[0]!, reader.fields[1]!] };

/** Schema id 5 in Confluent wire format, then the body. */
const wire = (...body: Buffer[]): Buffer => Buffer.concat([Buffer.from([0, 0, 0, 0, 5]), ...body]);

async function decoderFor(writerSchema: avro.Schema) {
  const registry: SchemaRegistryClient = {
    writerType: async () => avro.Type.forSchema(writerSchema),
    register: async () => 0, encode: async () => Buffer.alloc(0), setCompatibility: async () => undefined, ready: async () => undefined,
  };
  return { decode: await createAvroDecoder(registry, reader).prepare([wire()]) };
}

describe('Avro array and map block counts', () => {
  it('still decodes good records, blocks of either sign, through a resolver and without one', async () => {
    // A map in two blocks (the second with a byte size, negative count), an array in one, then their ends.
    const body = [long(1n), str('k1'), str('v1'), long(-1n), long(6n), str('k2'), str('v2'), long(0n), long(2n), str('a'), str('b'), long(0n)];
    const resolved = await decoderFor(writer);
    expect(resolved.decode(wire(...body))).toEqual({ attributes: { k1: 'v1', k2: 'v2' }, tags: ['a', 'b'], marks: [] });
    const direct = await decoderFor(reader);
    // Five nulls take no bytes: a count above the bytes left is no corruption for them.
    expect(direct.decode(wire(...body, long(5n), long(0n)))).toEqual({ attributes: { k1: 'v1', k2: 'v2' }, tags: ['a', 'b'], marks: [null, null, null, null, null] });
  });

  it('refuses at once a block claiming more items than the record has bytes, as a poison record', async () => {
    const decoder = await decoderFor(writer);
    // 5e7 entries took a second or more before; 2^60 in 49 bytes never returned (past 2^53 the countdown stops).
    for (const count of [50_000_000n, 1n << 60n]) {
      const started = performance.now();
      const map = wire(long(count), str('k'), str('v'), long(0n), long(0n));
      const mapFailure = (() => { try { decoder.decode(map); } catch (error) { return error; } return null; })();
      expect(classify(mapFailure)).toMatchObject({ kind: 'poison', code: 'AVRO_DECODE_FAILED', message: expect.stringContaining(`map block of ${Number(count)} items`) });
      const array = wire(long(0n), long(count), str('a'), long(0n));
      expect(() => decoder.decode(array)).toThrow(`array block of ${Number(count)} items`);
      expect(performance.now() - started).toBeLessThan(500);
    }
  });

  it('bounds the fields a newer writer has and the reader skips, in both block forms, and skips good ones', async () => {
    // The writer added a map and an array of records the reader does not know: the resolver skips them.
    const newer: avro.Schema = {
      type: 'record', name: 'Event', fields: [
        reader.fields[0]!, reader.fields[1]!,
        { name: 'labels', type: { type: 'map', values: 'string' } },
        { name: 'history', type: { type: 'array', items: { type: 'record', name: 'Step', fields: [{ name: 's', type: 'string' }] } } },
      ],
    };
    const decoder = await decoderFor(newer);
    const known = [long(0n), long(1n), str('a'), long(0n)];
    // Good extra fields: a map block with its byte size (skipped whole), an array block of two items.
    const sizedMap = Buffer.concat([str('k'), str('v')]);
    const good = wire(...known, long(-1n), long(BigInt(sizedMap.length)), sizedMap, long(0n), long(2n), str('x'), str('y'), long(0n));
    expect(decoder.decode(good)).toEqual({ attributes: {}, tags: ['a'], marks: [] });
    for (const count of [50_000_000n, 1n << 60n]) {
      const started = performance.now();
      expect(() => decoder.decode(wire(...known, long(count), str('k'), str('v'), long(0n), long(0n))), 'map').toThrow(`map block of ${Number(count)} items`);
      expect(() => decoder.decode(wire(...known, long(0n), long(count), str('x'), long(0n))), 'array').toThrow(`array block of ${Number(count)} items`);
      // A byte size past the end is refused before the jump.
      expect(() => decoder.decode(wire(...known, long(-1n), long(count), str('k'), long(0n), long(0n))), 'sized').toThrow(`map block of ${Number(count)} bytes`);
      expect(performance.now() - started).toBeLessThan(500);
    }
  });

  it('reads arrays without a resolver too (avsc\'s types are frozen), and counts records of empty fields as empty', () => {
    expect(boundAvroBlockCounts()).toBe(true);
    const pairs = avro.Type.forSchema({ type: 'array', items: { type: 'record', name: 'Pair', fields: [{ name: 'a', type: 'null' }, { name: 'b', type: 'null' }] } });
    // Three such records take no bytes: a count above the bytes left is no corruption for them.
    expect(pairs.fromBuffer(Buffer.concat([long(3n), long(0n)]))).toEqual([{ a: null, b: null }, { a: null, b: null }, { a: null, b: null }]);
    expect(() => pairs.fromBuffer(Buffer.concat([long(1n << 60n), long(0n)]))).toThrow(/array block of .* items/);
    const strings = avro.Type.forSchema({ type: 'array', items: 'string' });
    expect(strings.fromBuffer(Buffer.concat([long(2n), str('a'), str('b'), long(0n)]))).toEqual(['a', 'b']);
    expect(() => strings.fromBuffer(Buffer.concat([long(1000n), str('a'), long(0n)]))).toThrow('array block of 1000 items');
  });

  it('knows which types may be written in no bytes, and installs itself once', () => {
    const type = (schema: avro.Schema) => avro.Type.forSchema(schema);
    expect(mayTakeNoBytes(type('null'))).toBe(true);
    expect(mayTakeNoBytes(type({ type: 'fixed', name: 'F0', size: 0 }))).toBe(true);
    expect(mayTakeNoBytes(type({ type: 'record', name: 'Empty', fields: [] }))).toBe(true);
    expect(mayTakeNoBytes(type({ type: 'record', name: 'Nulls', fields: [{ name: 'n', type: 'null' }, { name: 'm', type: 'null' }] }))).toBe(true);
    // A record that holds itself (through a union) is never empty, and asking does not recurse for good.
    expect(mayTakeNoBytes(type({ type: 'record', name: 'Node', fields: [{ name: 'next', type: ['null', 'Node'] }] }))).toBe(false);
    for (const schema of ['string', 'int', 'boolean', { type: 'fixed', name: 'F1', size: 1 } as avro.Schema, ['null', 'string'] as avro.Schema, { type: 'enum', name: 'E', symbols: ['ONE'] } as avro.Schema]) {
      expect(mayTakeNoBytes(type(schema)), JSON.stringify(schema)).toBe(false);
    }
    expect(boundAvroBlockCounts()).toBe(true);
    expect(boundAvroBlockCounts()).toBe(true);
  });
});
