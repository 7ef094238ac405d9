/**
 * How long the router waits after routing a batch before it fetches again.
 *
 * Every batch is a transaction per source partition, and a transaction costs
 * five broker round trips (add partitions, produce, add offsets, commit
 * offsets, end) plus the markers the broker writes. Caught up at a moderate
 * rate, the router would fetch again at once and commit a transaction for the
 * few events that arrived meanwhile: on a 2-vCPU machine at 500 events/s the
 * broker then spent 1.5–1.9 ms of CPU per event, most of a core. Waiting a
 * few milliseconds after a caught-up batch lets the next one gather what
 * arrives meanwhile, as Kafka's own fetch.min.bytes would, but without
 * polling an idle topic more often: an idle router gets no batches and so
 * never waits. Behind (a backlog), it does not wait: the next batch is full
 * already.
 */
export function lingerAfterBatch(offsetLag: string, lingerMs: number): number {
  return lingerMs > 0 && BigInt(offsetLag) <= 0n ? lingerMs : 0;
}
