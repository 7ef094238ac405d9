/**
 * The throughput ratio a machine without spare cores allows: the raw loop's
 * CPU per POST (its client and the receiver) against the deliverer's per
 * delivery with the receiver and broker it adds. When every process shares
 * the same cores, rates are inversely proportional to CPU per request, so a
 * measured ratio well below this bound points at latency (a stage waiting on
 * another) rather than at work done. Null when a figure is missing (off Linux,
 * no local broker).
 */
export interface RoundCpu {
  rawClientUs: number | null;
  rawReceiverUs: number | null;
  delivererUs: number | null;
  receiverUs: number | null;
  brokerUs: number | null;
}

export function cpuBoundRatio(cpu: RoundCpu): number | null {
  const { rawClientUs, rawReceiverUs, delivererUs, receiverUs, brokerUs } = cpu;
  if (rawClientUs === null || rawReceiverUs === null || delivererUs === null || receiverUs === null || brokerUs === null) return null;
  const ours = delivererUs + receiverUs + brokerUs;
  return ours > 0 ? Number(((rawClientUs + rawReceiverUs) / ours).toFixed(3)) : null;
}
