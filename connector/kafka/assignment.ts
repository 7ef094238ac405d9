/** One key per topic partition, for maps and sets of partitions (topic names cannot contain a NUL). */
export function partitionKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

/** The partition keys of a rebalance's assignment to this member (kafkajs's GROUP_JOIN `memberAssignment`). */
export function assignedPartitionKeys(memberAssignment: Record<string, number[]>): Set<string> {
  return new Set(Object.entries(memberAssignment).flatMap(([topic, partitions]) => partitions.map((partition) => partitionKey(topic, partition))));
}

/** The topic and partition a `partitionKey` names. */
export function partitionOfKey(key: string): { topic: string; partition: number } {
  const cut = key.lastIndexOf('\u0000');
  return { topic: key.slice(0, cut), partition: Number(key.slice(cut + 1)) };
}
