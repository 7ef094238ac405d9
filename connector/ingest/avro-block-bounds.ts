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
 * body (see decode.ts). Resolvers copy these readers when they are built,
 * so this must run before any writer schema is resolved.
 */
interface Tap {
  buf: Buffer;
  pos: number;
  readLong(): number;
  skipLong(): void;
  readString(): string;
}
interface ReadableType {
  _read(tap: Tap): unknown;
}
interface ArrayLike {
  itemsType: ReadableType;
  /** Whether the items as written may take no bytes: set on a resolver when it is built, on a type when first read. */
  itemsMayBeEmpty?: boolean;
}
interface MapLike {
  valuesType: ReadableType;
}

/** Whether a value of this type may be written in no bytes at all. */
export function mayTakeNoBytes(type: avro.Type, seen = new Set<avro.Type>()): boolean {
  if (seen.has(type)) return false;
  seen.add(type);
  if (type.typeName === 'null') return true;
  if (type instanceof avro.types.FixedType) return type.size === 0;
  if (type instanceof avro.types.RecordType) return type.fields.every((field) => mayTakeNoBytes(field.type, seen));
  if (type instanceof avro.types.LogicalType) return mayTakeNoBytes(type.underlyingType, seen);
  return false;
}

/** The next block's item count; throws when the rest of the record cannot hold that many items. */
function blockCount(tap: Tap, itemsMayBeEmpty: boolean, what: string): number {
  let count = tap.readLong();
  if (count < 0) {
    count = -count;
    tap.skipLong();
  }
  const left = tap.buf.length - tap.pos;
  if (!itemsMayBeEmpty && count > left) throw new Error(`${what} block of ${count} items, with ${Math.max(0, left)} bytes left in the record`);
  return count;
}

function boundedArrayRead(this: ArrayLike & { itemsType: ReadableType | avro.Type }, tap: Tap): unknown[] {
  const items = this.itemsType;
  // A type reads its own items; a resolver's were judged from the writer's items when it was built (see below).
  const mayBeEmpty = (this.itemsMayBeEmpty ??= mayTakeNoBytes(items as avro.Type));
  const values: unknown[] = [];
  let count: number;
  while ((count = blockCount(tap, mayBeEmpty, 'array'))) {
    for (let i = 0; i < count; i += 1) values.push(items._read(tap));
  }
  return values;
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

type Prototype = { _read: (tap: Tap) => unknown; _update: (resolver: ArrayLike, writer: avro.Type, options: unknown) => void };
const arrayPrototype = avro.types.ArrayType.prototype as unknown as Prototype;
const mapPrototype = avro.types.MapType.prototype as unknown as Prototype;
const avscArrayUpdate = arrayPrototype._update;

/** avsc's resolver set-up for arrays, which also notes whether the writer's items may take no bytes. */
function arrayUpdate(this: Prototype, resolver: ArrayLike, writer: avro.Type, options: unknown): void {
  avscArrayUpdate.call(this, resolver, writer, options);
  if (writer instanceof avro.types.ArrayType) resolver.itemsMayBeEmpty = mayTakeNoBytes(writer.itemsType);
}

/** Installs the bounded readers (idempotent). Returns whether avsc now reads arrays and maps through them. */
export function boundAvroBlockCounts(): boolean {
  arrayPrototype._read = boundedArrayRead as Prototype['_read'];
  arrayPrototype._update = arrayUpdate;
  mapPrototype._read = boundedMapRead as Prototype['_read'];
  return arrayPrototype._read === (boundedArrayRead as unknown) && mapPrototype._read === (boundedMapRead as unknown) && typeof avscArrayUpdate === 'function';
}
