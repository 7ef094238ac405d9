import { describe, expect, it } from 'vitest';
import { decodeProgress, encodeProgress, smallestOf, unfinishedRecords } from '../../connector/delivery/progress-metadata.js';

describe('progress metadata', () => {
  it('round-trips the unfinished offsets above a commit, and what lies between them counts as finished', () => {
    const metadata = encodeProgress(100n, 1000n, [100n, 101n, 250n, 999n]);
    const progress = decodeProgress(100n, metadata);
    expect(progress?.until).toBe(1000n);
    expect([...progress!.unfinished]).toEqual([100n, 101n, 250n, 999n]);
  });

  it('claims nothing when nothing above the commit is finished', () => {
    expect(encodeProgress(5n, 8n, [5n, 6n, 7n])).toBeNull();
    expect(encodeProgress(5n, 5n, [])).toBeNull();
  });

  it('stays within the size Kafka takes, and claims nothing past the first offset left out', () => {
    // Every other offset unfinished, far more than fit.
    const unfinished = Array.from({ length: 10_000 }, (_, i) => 1_000_000n + BigInt(i * 2));
    const metadata = encodeProgress(1_000_000n, 1_020_000n, unfinished, 400)!;
    expect(metadata.length).toBeLessThanOrEqual(400);
    const progress = decodeProgress(1_000_000n, metadata)!;
    const listed = [...progress.unfinished];
    expect(listed).toEqual(unfinished.slice(0, listed.length));
    // The first offset not listed is where the claim stops.
    expect(progress.until).toBe(unfinished[listed.length]);
  });

  it('encodes large gaps between unfinished offsets', () => {
    const metadata = encodeProgress(0n, 2n ** 40n, [0n, 2n ** 35n, 2n ** 40n - 1n]);
    expect([...decodeProgress(0n, metadata)!.unfinished]).toEqual([0n, 2n ** 35n, 2n ** 40n - 1n]);
  });

  it('claims nothing when handed offsets out of order or outside the range', () => {
    expect(encodeProgress(10n, 20n, [12n, 11n])).toBeNull();
    expect(encodeProgress(10n, 20n, [9n])).toBeNull();
    expect(encodeProgress(10n, 20n, [20n])).toBeNull();
  });

  it('ignores metadata that is not ours, is malformed, or belongs to another offset', () => {
    expect(decodeProgress(0n, null)).toBeNull();
    expect(decodeProgress(0n, '')).toBeNull();
    expect(decodeProgress(0n, 'event-id-3')).toBeNull();
    expect(decodeProgress(0n, 'p1:abc:AA==')).toBeNull();
    // A truncated varint.
    expect(decodeProgress(0n, `p1:100:${Buffer.from([0x80]).toString('base64')}`)).toBeNull();
    // Written for a commit at 50: `until` below this commit.
    expect(decodeProgress(60n, encodeProgress(50n, 55n, [50n]))).toBeNull();
    // An unfinished offset at or past `until`.
    expect(decodeProgress(0n, `p1:3:${Buffer.from([5]).toString('base64')}`)).toBeNull();
  });

  it('merges ascending sources into the smallest offsets of all, ascending', () => {
    const single = [3n, 5n, 8n];
    expect(smallestOf([single])).toBe(single);
    expect([...smallestOf([[3n, 9n], [1n, 4n, 10n], []])]).toEqual([1n, 3n, 4n, 9n, 10n]);
  });
});

describe('unfinishedRecords', () => {
  it('is the plain lag without progress (a router, nothing finished above the commit)', () => {
    expect(unfinishedRecords(100n, 150n, null)).toBe(50n);
    expect(unfinishedRecords(100n, 100n, null)).toBe(0n);
    // A high watermark below the commit (a topic recreated): nothing owed, not a negative count.
    expect(unfinishedRecords(100n, 40n, null)).toBe(0n);
  });

  it('counts a strict webhook\'s held task and what was not read yet, not the tasks delivered after it', () => {
    // Committed at 100 (held), 101-149 delivered except 120, read up to 150; the topic ends at 160.
    const metadata = encodeProgress(100n, 150n, [100n, 120n])!;
    const progress = decodeProgress(100n, metadata);
    expect(unfinishedRecords(100n, 160n, progress)).toBe(2n + 10n);
  });

  it('counts everything from where metadata too small for every unfinished offset stopped claiming', () => {
    // 300 unfinished offsets, every other one from 100, in metadata with room for a few dozen.
    const unfinished = Array.from({ length: 300 }, (_, i) => 100n + BigInt(2 * i));
    const metadata = encodeProgress(100n, 700n, unfinished, 80)!;
    const progress = decodeProgress(100n, metadata)!;
    expect(progress.until).toBeLessThan(700n);
    const listed = [...progress.unfinished].length;
    expect(unfinishedRecords(100n, 800n, progress)).toBe(BigInt(listed) + (800n - progress.until));
  });

  it('never counts past the high watermark the monitor read (read after the commit, it may be older)', () => {
    const progress = decodeProgress(100n, encodeProgress(100n, 150n, [100n, 120n, 140n])!);
    expect(unfinishedRecords(100n, 130n, progress)).toBe(2n);
  });
});
