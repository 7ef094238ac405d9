/**
 * What a partition's committed offset cannot say, carried in the commit's
 * metadata: which offsets above it are finished. The committed offset is
 * the lowest unfinished task; while one webhook holds it (a slow endpoint,
 * a strict webhook retrying for hours), every other webhook's tasks above it
 * finish. A new owner (restart, rebalance) would send them all again; with
 * this it skips those below `until` that are not listed as unfinished.
 *
 * Format: `p1:<until>:<base64 of the unfinished offsets as unsigned varint
 * gaps, starting from the committed offset>`. Kafka bounds commit metadata
 * (offset.metadata.max.bytes, 4096 by default), so when the unfinished
 * offsets do not all fit, `until` stops at the first one left out: above it
 * nothing is claimed finished, and a new owner sends it all, as it would
 * without metadata. Metadata of any other shape is ignored.
 */
const PREFIX = 'p1:';
/** Within Kafka's default offset.metadata.max.bytes with room to spare. */
export const MAX_PROGRESS_CHARS = 4000;
/** More unfinished offsets than fit in any metadata (each takes a byte at least). */
export const MAX_PROGRESS_OFFSETS = MAX_PROGRESS_CHARS;

export interface Progress {
  /** Offsets below it and not in `unfinished` were finished. */
  until: bigint;
  unfinished: Set<bigint>;
}

function writeVarint(bytes: number[], value: number): void {
  let rest = value;
  while (rest >= 0x80) {
    bytes.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  bytes.push(rest);
}

/**
 * Metadata for a commit at `committed`, with `end` one past the highest offset read and `unfinished` the offsets
 * in [committed, end) not finished, ascending. Null when it would claim nothing (nothing finished above the commit).
 */
export function encodeProgress(committed: bigint, end: bigint, unfinished: Iterable<bigint>, maxChars = MAX_PROGRESS_CHARS): string | null {
  const bytes: number[] = [];
  // Base64 takes 4 characters per 3 bytes; the header takes the rest.
  const budget = Math.floor(((maxChars - PREFIX.length - 21) * 3) / 4);
  let until = end;
  let previous = committed;
  for (const offset of unfinished) {
    // Not ascending within [committed, end): claiming anything could skip an unfinished task, so claim nothing.
    if (offset < previous || offset >= end) return null;
    const before = bytes.length;
    writeVarint(bytes, Number(offset - previous));
    if (bytes.length > budget) {
      bytes.length = before;
      until = offset;
      break;
    }
    previous = offset + 1n;
  }
  // Nothing claimed finished: every offset in [committed, until) is listed as unfinished.
  if (until - committed === BigInt(countUnfinished(bytes))) return null;
  return `${PREFIX}${until}:${Buffer.from(bytes).toString('base64')}`;
}

function countUnfinished(bytes: number[]): number {
  return bytes.filter((byte) => byte < 0x80).length;
}

/**
 * The offsets of several ascending sources, merged ascending, as far as any metadata can take them: one source is
 * read lazily; of several, the smallest of all are among the first of each (few webhooks defer at once).
 */
export function smallestOf(sources: ReadonlyArray<Iterable<bigint>>): Iterable<bigint> {
  if (sources.length === 1) return sources[0]!;
  const smallest: bigint[] = [];
  for (const source of sources) {
    let taken = 0;
    for (const offset of source) {
      if (taken++ >= MAX_PROGRESS_OFFSETS) break;
      smallest.push(offset);
    }
  }
  smallest.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return smallest.slice(0, MAX_PROGRESS_OFFSETS);
}

/** The progress a commit at `committed` carried, or null when its metadata is not ours or not valid. */
export function decodeProgress(committed: bigint, metadata: string | null | undefined): Progress | null {
  if (!metadata?.startsWith(PREFIX)) return null;
  const [untilText, encoded] = metadata.slice(PREFIX.length).split(':');
  if (untilText === undefined || encoded === undefined || !/^\d+$/.test(untilText)) return null;
  const until = BigInt(untilText);
  if (until < committed) return null;
  const bytes = Buffer.from(encoded, 'base64');
  const unfinished = new Set<bigint>();
  let at = committed;
  let value = 0;
  let scale = 1;
  for (const byte of bytes) {
    value += (byte & 0x7f) * scale;
    if (byte & 0x80) {
      scale *= 0x80;
      continue;
    }
    at += BigInt(value);
    if (at >= until) return null;
    unfinished.add(at);
    at += 1n;
    value = 0;
    scale = 1;
  }
  if (scale !== 1) return null;
  return { until, unfinished };
}

/**
 * Records of a partition not yet finished: from the committed offset to the high watermark, less those the commit's
 * progress says are finished above it. While one webhook holds the committed offset back (a strict webhook waiting
 * out a retry, a slow endpoint), the tasks delivered after it are not owed any more, and a lag alert counting them
 * would page for work already done. Without progress (a router's commit, none yet), the plain lag.
 */
export function unfinishedRecords(committed: bigint, high: bigint, progress: Progress | null): bigint {
  if (high <= committed) return 0n;
  if (!progress) return high - committed;
  const until = progress.until < high ? progress.until : high;
  let owed = high - until;
  for (const offset of progress.unfinished) if (offset < until) owed += 1n;
  return owed;
}
