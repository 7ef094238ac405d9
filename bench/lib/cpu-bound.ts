/**
 * The throughput ratio the machine's CPU allows the deliverer, against the
 * raw loop's rate as measured. The deliverer cannot go faster than its main
 * threads allow (a core each) nor than the cores allow for its CPU per delivery
 * with the receiver's and the broker's, which share them. The raw loop is not
 * held to the same bound: one client thread drives it, which on a 2-core
 * machine is what stops it, with cores to spare. So the bound is a rate
 * against the raw loop's measured rate, not a ratio of CPU per request (that
 * would assume the raw loop fills every core). A measured ratio well below
 * the bound points at latency (stages waiting on one another at the fixed
 * concurrency) rather than at work done. Null when a figure is missing (off
 * Linux, no local broker).
 */
export interface RoundCpu {
  cores: number;
  /** Deliverer processes in the round: one main thread each. */
  mainThreads: number;
  /** Raw POSTs per second, measured in the same round. */
  rawPerSecond: number;
  delivererUs: number | null;
  delivererMainThreadUs: number | null;
  receiverUs: number | null;
  brokerUs: number | null;
}

export function cpuBoundRatio(cpu: RoundCpu): number | null {
  const { cores, mainThreads, rawPerSecond, delivererUs, delivererMainThreadUs, receiverUs, brokerUs } = cpu;
  if (delivererUs === null || delivererMainThreadUs === null || receiverUs === null || brokerUs === null) return null;
  const ours = delivererUs + receiverUs + brokerUs;
  if (ours <= 0 || delivererMainThreadUs <= 0 || rawPerSecond <= 0) return null;
  const allowedPerSecond = Math.min((cores * 1e6) / ours, (mainThreads * 1e6) / delivererMainThreadUs);
  return Number((allowedPerSecond / rawPerSecond).toFixed(3));
}
