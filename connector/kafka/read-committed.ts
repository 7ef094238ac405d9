import type { Kafka } from 'kafkajs';
import { onEachCluster } from './cluster-hook.js';

/** A fetched record, as kafkajs decodes it: the fields that say whether it belongs to an aborted transaction. */
export interface FetchedRecord {
  offset: string;
  key: Buffer | null;
  isControlRecord: boolean;
  batchContext: { producerId: string; inTransaction: boolean };
}

/** An entry of a fetch response's aborted-transaction list: a producer whose transaction from this offset on was aborted. */
export interface AbortedTransaction {
  producerId: string;
  firstOffset: string;
}

/** Key of an ABORT control record: version 0, type 0. */
const ABORT_MARKER_KEY = Buffer.from([0, 0, 0, 0]);

/**
 * Which records of one partition's fetched records belong to an aborted
 * transaction (control records never do). As the Java consumer decides it:
 * a producer is inside an aborted transaction from the first offset the
 * broker lists for it until its ABORT marker.
 *
 * The broker lists aborted transactions in the order they were aborted, not
 * by first offset; several can start before the first fetched record.
 * kafkajs assumes the list sorted and takes at most one entry per record, so
 * a transaction aborted before one that began earlier (two routers' lanes
 * writing to one task partition, both aborted by their new owner) reached
 * read_committed readers whole: a crashed router's tasks were delivered
 * and then routed again.
 */
export function abortedRecords(records: readonly FetchedRecord[], aborted: readonly AbortedTransaction[]): boolean[] {
  const byFirstOffset = aborted.map((entry) => ({ producerId: entry.producerId, firstOffset: BigInt(entry.firstOffset) })).sort((a, b) => (a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0));
  const inAbortedTransaction = new Set<string>();
  let next = 0;
  return records.map((record) => {
    const offset = BigInt(record.offset);
    while (next < byFirstOffset.length && byFirstOffset[next]!.firstOffset <= offset) inAbortedTransaction.add(byFirstOffset[next++]!.producerId);
    const { producerId, inTransaction } = record.batchContext;
    if (record.isControlRecord) {
      if (record.key !== null && ABORT_MARKER_KEY.equals(record.key)) inAbortedTransaction.delete(producerId);
      return false;
    }
    return inTransaction && inAbortedTransaction.has(producerId);
  });
}

interface FetchedPartition {
  abortedTransactions?: AbortedTransaction[] | null;
  messages: FetchedRecord[];
}
interface FetchResponse { responses: { partitions: FetchedPartition[] }[] }
interface BrokerLike { fetch(request: { isolationLevel?: number }): Promise<FetchResponse> }
interface ClusterLike { findBroker(args: unknown): Promise<BrokerLike> }

/**
 * Replaces a partition's aborted records before kafkajs sees them. Each
 * becomes a record kafkajs treats as a control record: kept in the batch for
 * its offset (so the consumer moves past it, as past an aborted record it
 * filtered itself), never handed to eachBatch or eachMessage. The
 * aborted-transaction list is emptied, so kafkajs's own filter has nothing to do.
 */
export function dropAbortedRecords(partition: FetchedPartition): void {
  const aborted = partition.abortedTransactions;
  if (!aborted || aborted.length === 0) return;
  const drop = abortedRecords(partition.messages, aborted);
  partition.messages = partition.messages.map((record, i) => (drop[i] ? { ...record, key: null, value: null, isControlRecord: true } : record));
  partition.abortedTransactions = [];
}

/**
 * Makes every read_committed consumer of this Kafka instance drop records
 * of aborted transactions correctly (see abortedRecords). Returns whether
 * kafkajs's internals were found; createKafka refuses to go on without it,
 * because every read_committed reader would deliver aborted tasks.
 */
export function filterAbortedTransactions(kafka: Kafka): boolean {
  return onEachCluster<ClusterLike>(kafka, (cluster) => {
    const findBroker = cluster.findBroker.bind(cluster);
    const patchedBrokers = new WeakSet<BrokerLike>();
    cluster.findBroker = async (args) => {
      const broker = await findBroker(args);
      if (!patchedBrokers.has(broker)) {
        patchedBrokers.add(broker);
        const fetch = broker.fetch.bind(broker);
        broker.fetch = async (request) => {
          const response = await fetch(request);
          for (const topic of response.responses) for (const partition of topic.partitions) dropAbortedRecords(partition);
          return response;
        };
      }
      return broker;
    };
  });
}
