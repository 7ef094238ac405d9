import type { Kafka } from 'kafkajs';
import type { Logger } from './logger.js';
import { decodeProgress, unfinishedRecords } from '../delivery/progress-metadata.js';
import { consumerLag, consumerUnfinished } from './metrics.js';

/**
 * Publishes consumer lag from committed offsets and high watermarks, read
 * with the admin client every `intervalMs`, and what of it is still owed:
 * the deliverers' commits say in their metadata which tasks above the
 * committed offset are finished. Partition counts are fixed per topic, so
 * the label values stay bounded.
 */
export function startConsumerLagMonitor(deps: { kafka: Kafka; groups: Array<{ groupId: string; topics: string[] }>; intervalMs: number; log: Logger }): { stop(): Promise<void> } {
  const admin = deps.kafka.admin();
  let connected = false;
  let stopped = false;

  const refresh = async (): Promise<void> => {
    if (!connected) {
      await admin.connect();
      connected = true;
    }
    for (const { groupId, topics } of deps.groups) {
      const committed = await admin.fetchOffsets({ groupId, topics });
      for (const { topic, partitions } of committed) {
        const high = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, BigInt(p.high)]));
        for (const { partition, offset, metadata } of partitions) {
          const end = high.get(partition) ?? 0n;
          // -1 means nothing committed yet: everything up to the high watermark is lag, and no progress was said.
          const nothingCommitted = BigInt(offset) < 0n;
          const done = nothingCommitted ? 0n : BigInt(offset);
          const labels = { group: groupId, topic, partition: String(partition) };
          consumerLag.set(labels, Number(end > done ? end - done : 0n));
          consumerUnfinished.set(labels, Number(unfinishedRecords(done, end, nothingCommitted ? null : decodeProgress(done, metadata))));
        }
      }
    }
  };

  /** Whether the last refresh failed: one warning when refreshing starts failing, not one every interval. */
  let failing = false;
  const loop = (): void => {
    if (stopped) return;
    refresh()
      .then(() => {
        if (failing) deps.log.info('consumer lag is read again');
        failing = false;
      })
      .catch((error: unknown) => {
        // The lag gauges keep their last values meanwhile: an SRE must know they are stale.
        if (!failing) deps.log.warn({ err: error }, 'consumer lag could not be read; webhooks_consumer_lag and webhooks_consumer_unfinished show the last values read until it can');
        failing = true;
      })
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, deps.intervalMs);
      });
  };
  let timer: NodeJS.Timeout = setTimeout(loop, 0);

  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      if (connected) await admin.disconnect();
    },
  };
}
