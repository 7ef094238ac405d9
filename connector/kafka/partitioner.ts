import './crc32c.js'; // before kafkajs: its record batch encoder takes our checksum only if it is in place when kafkajs loads
import { Partitioners, type ICustomPartitioner, type PartitionerArgs } from 'kafkajs';

/** Keys remembered per topic; webhook ids are few, but a flood of distinct keys must not grow memory without bound. */
const MAX_KEYS_PER_TOPIC = 100_000;

/**
 * The Java client's murmur2 key partitioning (kafkajs's DefaultPartitioner),
 * remembered per key. Tasks are keyed by webhook id, so the same few keys
 * come back on every record; hashing each again, and the filter over the
 * partition list that kafkajs runs per message, cost several percent of the
 * router's CPU. Same answer as the default for every message: explicit
 * partitions and keyless records go straight to it, and a change in the
 * topic's partition count forgets what was remembered.
 */
export const memoizedKeyPartitioner: ICustomPartitioner = () => {
  const computePartition = Partitioners.DefaultPartitioner();
  const topics = new Map<string, { partitionCount: number; byKey: Map<string, number> }>();
  return (args: PartitionerArgs): number => {
    const { topic, partitionMetadata, message } = args;
    if ((message.partition !== undefined && message.partition !== null) || typeof message.key !== 'string') return computePartition(args);
    let known = topics.get(topic);
    if (!known || known.partitionCount !== partitionMetadata.length || known.byKey.size >= MAX_KEYS_PER_TOPIC) {
      known = { partitionCount: partitionMetadata.length, byKey: new Map() };
      topics.set(topic, known);
    }
    let partition = known.byKey.get(message.key);
    if (partition === undefined) {
      partition = computePartition(args);
      known.byKey.set(message.key, partition);
    }
    return partition;
  };
};
