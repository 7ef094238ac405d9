import { BlockList, isIP } from 'node:net';

/**
 * Addresses a webhook must not reach unless allow-listed: loopback, private,
 * link-local (cloud metadata lives at 169.254.169.254), carrier-grade NAT,
 * unspecified, documentation, multicast and their IPv6 counterparts.
 */
const BLOCKED_V4: Array<[string, number]> = [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16],
  ['172.16.0.0', 12], ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15],
  ['198.51.100.0', 24], ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
];
/**
 * IPv6 ranges refused as such. Addresses that carry an IPv4 address (mapped
 * `::ffff:a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`, 6to4 `2002:aabb:ccdd::`) are
 * judged by the IPv4 address they reach instead (see embeddedIpv4); those
 * whose IPv4 part cannot be told simply are refused whole: IPv4-compatible
 * `::a.b.c.d` (deprecated, inside `::/96` with `::` and `::1`), IPv4-translated
 * `::ffff:0:a.b.c.d` (SIIT), local-use NAT64 (`64:ff9b:1::/48`) and Teredo
 * (`2001::/32`). 192.88.99.0/24 is the retired 6to4 relay anycast range.
 */
const BLOCKED_V6: Array<[string, number]> = [
  ['::', 96], ['::ffff:0:0:0', 96], ['100::', 64], ['2001::', 32], ['2001:db8::', 32], ['64:ff9b:1::', 48],
  ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8],
];

export interface SsrfGuard {
  /** Why this resolved address is refused, or null when it may be reached. */
  refusal(address: string): string | null;
}

/** The eight 16-bit groups of a valid IPv6 address (zone dropped, a trailing dotted quad folded in). */
export function ipv6Groups(address: string): number[] {
  let text = address.split('%')[0]!;
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const groupsOf = (part: string): number[] => (part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)));
  const before = groupsOf(head);
  const after = tail === undefined ? [] : groupsOf(tail);
  return [...before, ...Array<number>(8 - before.length - after.length).fill(0), ...after];
}

/** The IPv4 address an IPv6 address stands for or is translated to, when it is one of those forms; else null. */
export function embeddedIpv4(address: string): string | null {
  const groups = ipv6Groups(address);
  const [g0, g1, g2, g3, g4, g5, g6, g7] = groups as [number, number, number, number, number, number, number, number];
  const ipv4 = (high: number, low: number): string => `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
  // IPv4-mapped, ::ffff:0:0/96.
  if (g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0xffff) return ipv4(g6, g7);
  // NAT64's well-known prefix, 64:ff9b::/96: the gateway connects to the IPv4 address in the last 32 bits.
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) return ipv4(g6, g7);
  // 6to4, 2002::/16: the relay forwards to the IPv4 address in bits 16–48.
  if (g0 === 0x2002) return ipv4(g1, g2);
  return null;
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
      const family = isIP(address);
      if (family === 0) return `"${address}" is not an IP address`;
      // An address that reaches an IPv4 address is checked as that address (allow-list included).
      const checked = (family === 6 ? embeddedIpv4(address) : null) ?? address;
      const type = isIP(checked) === 6 ? 'ipv6' : 'ipv4';
      if (allowed.check(checked, type)) return null;
      if (blocked.check(checked, type)) return checked === address ? `address ${address} is private, loopback, link-local or reserved` : `address ${address} reaches ${checked}, which is private, loopback, link-local or reserved`;
      return null;
    },
  };
}
