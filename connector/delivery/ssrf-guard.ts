import { BlockList, isIP } from 'node:net';

/**
 * Addresses a webhook must not reach unless allow-listed: loopback, private,
 * link-local (cloud metadata lives at 169.254.169.254), carrier-grade NAT,
 * unspecified, multicast and their IPv6 counterparts.
 */
const BLOCKED_V4: Array<[string, number]> = [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16],
  ['172.16.0.0', 12], ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4],
];
const BLOCKED_V6: Array<[string, number]> = [
  ['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['64:ff9b::', 96],
];

export interface SsrfGuard {
  /** Why this resolved address is refused, or null when it may be reached. */
  refusal(address: string): string | null;
}

function toBlockList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address = '', bits] = entry.split('/');
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(bits), family);
  }
  return list;
}

export function createSsrfGuard(allowlist: readonly string[]): SsrfGuard {
  const blocked = new BlockList();
  for (const [net, bits] of BLOCKED_V4) blocked.addSubnet(net, bits, 'ipv4');
  for (const [net, bits] of BLOCKED_V6) blocked.addSubnet(net, bits, 'ipv6');
  const allowed = toBlockList(allowlist);
  return {
    refusal(address) {
      let family = isIP(address);
      if (family === 0) return `"${address}" is not an IP address`;
      // An IPv4-mapped IPv6 address is checked as the IPv4 address it stands for.
      const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
      const checked = mapped?.[1] ?? address;
      family = isIP(checked);
      const type = family === 6 ? 'ipv6' : 'ipv4';
      if (allowed.check(checked, type)) return null;
      if (blocked.check(checked, type)) return `address ${checked} is private, loopback, link-local or reserved`;
      return null;
    },
  };
}
