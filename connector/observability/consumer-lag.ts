import type { Kafka } from 'kafkajs';
import type { Logger } from './logger.js';
import { consumerLag } from './metrics.js';

/**
 * Publishes consumer lag from committed offsets and high watermarks, read
 * with the admin client every `intervalMs`. Partition counts are fixed per
 * topic, so the label values stay bounded.
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
        for (const { partition, offset } of partitions) {
          const end = high.get(partition) ?? 0n;
          // -1 means nothing committed yet: everything up to the high watermark is lag.
          const done = BigInt(offset) < 0n ? 0n : BigInt(offset);
          consumerLag.set({ group: groupId, topic, partition: String(partition) }, Number(end > done ? end - done : 0n));
        }
      }
    }
  };

  const loop = (): void => {
    if (stopped) return;
    refresh()
      .catch((error: unknown) => deps.log.debug({ err: error }, 'consumer lag refresh failed'))
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
