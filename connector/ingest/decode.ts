import avro from 'avsc';
import type { SchemaRegistryClient } from '../kafka/schema-registry.js';
import { classify, fatal, poison } from '../errors.js';
import { boundAvroBlockCounts } from './avro-block-bounds.js';

const MAGIC_BYTE = 0;
const HEADER_BYTES = 5;

/**
 * Decodes Confluent wire-format Avro (magic 0, 4-byte schema id, body) with
 * the writer's schema from the registry, resolved to the router's reader
 * schema. A producer on a newer or older compatible schema keeps flowing:
 * added fields with defaults are dropped or defaulted by the resolver.
 */
export interface AvroDecoder {
  /**
   * Gets the writer schemas of these records ready: one registry round trip
   * per schema id not seen before, then the returned function decodes any of
   * them without waiting (anything undecodable throws poison). A registry
   * outage throws (transient: the batch is retried). An id the registry does
   * not know is asked for again once after a short pause (a replica behind a
   * load balancer may not have read a schema registered moments ago), then
   * remembered for a minute, each of its records poison (a schema registered
   * since is found then). The function answers from this slice's own view:
   * another slice's prepare, forgetting ids meanwhile, changes nothing in it.
   * `heartbeat` keeps the consumer's group membership through the pause and
   * slow lookups.
   */
  prepare(values: ReadonlyArray<Buffer | null>, heartbeat?: () => Promise<void>): Promise<SliceDecoder>;
}

/** Decodes one record of a prepared slice to the reader schema. */
export type SliceDecoder = (value: Buffer | null) => Record<string, unknown>;

type Resolution = { ok: true; resolver: avro.Resolver } | { ok: false; error: unknown };

/** How long an id the registry did not know is believed unknown: it may be registered since (or reach a lagging replica). */
const UNKNOWN_ID_TTL_MS = 60_000;
/** Unknown ids remembered at most: garbage values that happen to start with byte 0 carry random ones. */
const UNKNOWN_IDS_LIMIT = 1000;
/** How long after a registry first says it does not know an id that id is asked for again (see prepare). */
export const UNKNOWN_ID_CONFIRM_MS = 2000;
/** Registry lookups of one slice at once: garbage records carry many ids, and one at a time they would add up. */
const LOOKUPS_AT_ONCE = 8;

/** Runs `work` on every item, `limit` at a time. */
async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++]!);
  }));
}

export function createAvroDecoder(
  registry: SchemaRegistryClient, readerSchema: avro.Schema, now: () => number = Date.now, confirmUnknownAfterMs = UNKNOWN_ID_CONFIRM_MS,
): AvroDecoder {
  // Before any resolver is built: a record claiming more items than it has bytes would otherwise hang the process.
  if (!boundAvroBlockCounts()) throw fatal('AVRO_BOUNDS_UNAVAILABLE', 'avsc no longer reads arrays and maps the way avro-block-bounds.ts patches (upgraded?)');
  const readerType = avro.Type.forSchema(readerSchema);
  // One resolver per writer schema id, built on first sight; ids are immutable in a registry.
  // Settled answers only, so decoding a record is synchronous: no promise per record.
  const resolutions = new Map<number, Resolution>();
  /** Ids the registry did not know, with the answer and until when it is believed. */
  const unknown = new Map<number, { error: unknown; until: number }>();
  const settled = (schemaId: number): boolean => resolutions.has(schemaId) || (unknown.get(schemaId)?.until ?? 0) > now();
  /** Newest last, where eviction comes last (see prepare). */
  const rememberUnknown = (schemaId: number, entry: { error: unknown; until: number }): void => {
    unknown.delete(schemaId);
    unknown.set(schemaId, entry);
  };

  /** Asks the registry for one id: resolved (or incompatible) is kept; an id it does not know returns its answer. */
  const ask = async (schemaId: number): Promise<{ error: unknown } | null> => {
    let writerType: avro.Type;
    try {
      writerType = await registry.writerType(schemaId);
    } catch (error) {
      // Only a definitive answer is kept; a registry outage fails the batch and is asked again.
      if (classify(error).kind !== 'poison') throw error;
      return { error };
    }
    unknown.delete(schemaId);
    try {
      resolutions.set(schemaId, { ok: true, resolver: readerType.createResolver(writerType) });
    } catch (error) {
      resolutions.set(schemaId, {
        ok: false,
        error: poison('SCHEMA_INCOMPATIBLE', `writer schema ${schemaId} cannot be resolved to the reader schema: ${(error as Error).message}`, error),
      });
    }
    return null;
  };

  /**
   * Lookups under way, shared by the slices that need the id: a slice of another partition meeting an id while its
   * confirmation pause runs waits for the same answer rather than taking the first "unknown" as final.
   */
  const lookups = new Map<number, Promise<void>>();
  /**
   * Settles one id. Unknown to the registry for the first time, it is asked for again after the pause before it is
   * believed unknown; one believed unknown before (its minute over) is asked once.
   */
  const settle = (schemaId: number, beforePause: () => Promise<void>): Promise<void> => {
    let lookup = lookups.get(schemaId);
    if (lookup) return lookup;
    const seenUnknown = unknown.has(schemaId);
    lookup = (async () => {
      let answer = await ask(schemaId);
      if (answer && !seenUnknown) {
        await beforePause();
        await new Promise((resolve) => setTimeout(resolve, confirmUnknownAfterMs));
        answer = await ask(schemaId);
      }
      if (answer) rememberUnknown(schemaId, { error: answer.error, until: now() + UNKNOWN_ID_TTL_MS });
    })().finally(() => lookups.delete(schemaId));
    lookups.set(schemaId, lookup);
    return lookup;
  };

  /** The writer's schema id from the Confluent wire-format header, or null when the value has none. */
  const schemaIdOf = (value: Buffer | null): number | null =>
    value && value.length >= HEADER_BYTES && value[0] === MAGIC_BYTE ? value.readInt32BE(1) : null;

  /** What a slice decodes with: a resolution, or why its id cannot be decoded. */
  const viewOf = (schemaId: number): Resolution => {
    const resolution = resolutions.get(schemaId);
    if (resolution) return resolution;
    const entry = unknown.get(schemaId);
    return { ok: false, error: entry ? entry.error : new Error(`schema id ${schemaId} was not prepared before decoding`) };
  };

  return {
    async prepare(values, heartbeat = async () => undefined) {
      // Forgotten before, never during, a prepare, and the oldest first.
      if (unknown.size >= UNKNOWN_IDS_LIMIT) {
        for (const id of unknown.keys()) {
          if (unknown.size <= UNKNOWN_IDS_LIMIT / 2) break;
          unknown.delete(id);
        }
      }
      const ids = new Set<number>();
      for (const value of values) {
        const schemaId = schemaIdOf(value);
        if (schemaId !== null) ids.add(schemaId);
      }
      // What is settled now is taken now, before the lookups' awaits: another slice's prepare meanwhile could forget
      // an unknown id, which would then decode as "not prepared" (a transient failure) rather than as poison.
      const view = new Map<number, Resolution>();
      const missing: number[] = [];
      for (const schemaId of ids) {
        if (settled(schemaId)) view.set(schemaId, viewOf(schemaId));
        else missing.push(schemaId);
      }
      // Each taken as its lookup ends, while its answer is the newest remembered (evicted last): lookups of a slice
      // with many ids run for seconds, and one taken at the end could have been forgotten meanwhile.
      await eachLimited(missing, LOOKUPS_AT_ONCE, async (schemaId) => {
        await settle(schemaId, heartbeat);
        view.set(schemaId, viewOf(schemaId));
      });
      await heartbeat();
      return (value) => {
        const schemaId = schemaIdOf(value);
        if (schemaId === null) throw poison('NOT_AVRO_WIRE_FORMAT', 'record value is not Confluent wire-format Avro (magic byte 0 + schema id)');
        const resolution = view.get(schemaId) ?? viewOf(schemaId);
        if (!resolution.ok) throw resolution.error;
        try {
          return readerType.fromBuffer(value!.subarray(HEADER_BYTES), resolution.resolver) as Record<string, unknown>;
        } catch (error) {
          throw poison('AVRO_DECODE_FAILED', `record body does not decode with writer schema ${schemaId}: ${(error as Error).message}`, error);
        }
      };
    },
  };
}
