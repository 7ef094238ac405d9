import avro from 'avsc';

/**
 * Bounds the item counts of Avro array and map blocks by the bytes left.
 *
 * avsc reads a block's count from the record and then loops that many
 * times before it looks at the buffer again: a 49-byte record whose map
 * claims 2^60 entries never returns (past 2^53 the countdown stops moving),
 * and one claiming 10^8 spins for seconds. The router's event loop, its
 * heartbeats and health answers stop with it; the group hands the partition
 * to the next router, which hangs the same way, and nothing reaches the DLQ.
 *
 * Every map entry takes at least one byte (its key's length), and so does
 * every array item unless its type takes none (null, an empty record, a
 * fixed of size 0), so a count above the bytes left is a corrupt record.
 * Checked, it fails at once, as AVRO_DECODE_FAILED like any other corrupt
 * body (see decode.ts). Skipping a field the writer has and the reader does
 * not is bounded the same way. Resolvers copy these readers when they are
 * built, so this must run before any writer schema is resolved.
 */
interface Tap {
  buf: Buffer;
  pos: number;
  readLong(): number;
  skipLong(): void;
  readString(): string;
  skipString(): void;
}
interface ReadableType {
  _read(tap: Tap): unknown;
  _skip(tap: Tap): void;
}
interface ArrayLike {
  itemsType: ReadableType;
}
interface MapLike {
  valuesType: ReadableType;
}

/** Whether a value of this type may be written in no bytes at all. */
export function mayTakeNoBytes(type: avro.Type, visiting = new Set<avro.Type>()): boolean {
  // A type met again below itself is recursive: a value of it holds another, so it is not empty.
  if (visiting.has(type)) return false;
  if (type.typeName === 'null') return true;
  visiting.add(type);
  try {
    if (type instanceof avro.types.FixedType) return type.size === 0;
    if (type instanceof avro.types.RecordType) return type.fields.every((field) => mayTakeNoBytes(field.type, visiting));
    if (type instanceof avro.types.LogicalType) return mayTakeNoBytes(type.underlyingType, visiting);
    return false;
  } finally {
    visiting.delete(type);
  }
}

/**
 * Whether an array's items (as written) may take no bytes, by the array type
 * or resolver that reads them. avsc freezes its types, so this is kept
 * beside them: set for a resolver when it is built, worked out for a type on
 * its first read.
 */
const itemsMayBeEmpty = new WeakMap<object, boolean>();
function emptyItemsAllowed(reader: ArrayLike): boolean {
  let allowed = itemsMayBeEmpty.get(reader);
  if (allowed === undefined) {
    // A resolver's items are a resolver, which says nothing of the bytes it reads: not known, so bounded.
    allowed = reader.itemsType instanceof avro.Type ? mayTakeNoBytes(reader.itemsType) : false;
    itemsMayBeEmpty.set(reader, allowed);
  }
  return allowed;
}

/** Items of a type that takes no bytes, at most, in one block: more is no record, and a count past 2^53 never ends a loop. */
const MAX_EMPTY_ITEMS = 10_000_000;

function bytesLeft(tap: Tap): number {
  return Math.max(0, tap.buf.length - tap.pos);
}

/** The next block's item count, its byte size (written with a negative count) skipped; throws past the bytes left. */
function blockCount(tap: Tap, itemsMayBeEmpty: boolean, what: string): number {
  let count = tap.readLong();
  if (count < 0) {
    count = -count;
    tap.skipLong();
  }
  checkCount(count, tap, itemsMayBeEmpty, what);
  return count;
}

function checkCount(count: number, tap: Tap, itemsMayBeEmpty: boolean, what: string): void {
  if (itemsMayBeEmpty ? count > MAX_EMPTY_ITEMS : count > bytesLeft(tap)) {
    throw new Error(`${what} block of ${count} items, with ${bytesLeft(tap)} bytes left in the record`);
  }
}

/**
 * Skips the blocks of an array or map (a field the writer has and the reader
 * does not): a block written with its byte size is jumped over, which must
 * not pass the end; one without is skipped item by item, bounded as a read.
 */
function skipBlocks(tap: Tap, itemsMayBeEmpty: boolean, what: string, skipItem: () => void): void {
  let count: number;
  while ((count = tap.readLong())) {
    if (count < 0) {
      const size = tap.readLong();
      if (size < 0 || size > bytesLeft(tap)) throw new Error(`${what} block of ${size} bytes, with ${bytesLeft(tap)} bytes left in the record`);
      tap.pos += size;
      continue;
    }
    checkCount(count, tap, itemsMayBeEmpty, what);
    for (let i = 0; i < count; i += 1) skipItem();
  }
}

function boundedArrayRead(this: ArrayLike, tap: Tap): unknown[] {
  const items = this.itemsType;
  const mayBeEmpty = emptyItemsAllowed(this);
  const values: unknown[] = [];
  let count: number;
  while ((count = blockCount(tap, mayBeEmpty, 'array'))) {
    for (let i = 0; i < count; i += 1) values.push(items._read(tap));
  }
  return values;
}

function boundedArraySkip(this: ArrayLike, tap: Tap): void {
  const items = this.itemsType;
  skipBlocks(tap, emptyItemsAllowed(this), 'array', () => items._skip(tap));
}

function boundedMapRead(this: MapLike, tap: Tap): Record<string, unknown> {
  const values = this.valuesType;
  const map: Record<string, unknown> = {};
  let count: number;
  while ((count = blockCount(tap, false, 'map'))) {
    for (let i = 0; i < count; i += 1) {
      const key = tap.readString();
      map[key] = values._read(tap);
    }
  }
  return map;
}

function boundedMapSkip(this: MapLike, tap: Tap): void {
  const values = this.valuesType;
  // Every entry has a key, whose length takes a byte.
  skipBlocks(tap, false, 'map', () => {
    tap.skipString();
    values._skip(tap);
  });
}

type Prototype = {
  _read: (tap: Tap) => unknown;
  _skip: (tap: Tap) => void;
  _update: (resolver: ArrayLike, writer: avro.Type, options: unknown) => void;
};
const arrayPrototype = avro.types.ArrayType.prototype as unknown as Prototype;
const mapPrototype = avro.types.MapType.prototype as unknown as Prototype;
const avscArrayUpdate = arrayPrototype._update;

/** avsc's resolver set-up for arrays, which also notes whether the writer's items may take no bytes. */
function arrayUpdate(this: Prototype, resolver: ArrayLike, writer: avro.Type, options: unknown): void {
  avscArrayUpdate.call(this, resolver, writer, options);
  if (writer instanceof avro.types.ArrayType) itemsMayBeEmpty.set(resolver, mayTakeNoBytes(writer.itemsType));
}

/** Installs the bounded readers and skippers (idempotent). Returns whether avsc now reads arrays and maps through them. */
export function boundAvroBlockCounts(): boolean {
  arrayPrototype._read = boundedArrayRead as Prototype['_read'];
  arrayPrototype._skip = boundedArraySkip as Prototype['_skip'];
  arrayPrototype._update = arrayUpdate;
  mapPrototype._read = boundedMapRead as Prototype['_read'];
  mapPrototype._skip = boundedMapSkip as Prototype['_skip'];
  return typeof avscArrayUpdate === 'function' && arrayPrototype._skip === (boundedArraySkip as unknown) && mapPrototype._skip === (boundedMapSkip as unknown);
}
