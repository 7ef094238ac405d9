import { isIP } from 'node:net';
import { ipv6Groups } from '../../connector/delivery/ssrf-guard.js';

/**
 * Failed authentications per client address, per process. Every request with
 * a token costs a Postgres lookup, and the per-token rate limit cannot apply
 * before a token is known to be one: without this, anyone could send bad
 * tokens as fast as the network allows, each a query. Past `maxPerWindow`
 * failures in a window, an address is refused (429) before any lookup until
 * the window ends; successful requests are never counted, and a token
 * that worked lately is never held back.
 *
 * Kept in memory: it bounds load on this process's pool, which a shared
 * count would not do better. Behind a proxy that hides client addresses
 * (Fastify's trustProxy is off), every client shares the proxy's count.
 */
export interface FailedAuthLimiter {
  /**
   * Milliseconds until `address` may try again, or 0 when it may now. A
   * token this process has seen work lately always may: behind a shared
   * address (a proxy, a NAT), anyone sending bad tokens would otherwise
   * lock out every admin with a good one.
   */
  retryAfterMs(address: string, tokenHash?: string): number;
  /**
   * Counts a failed authentication from `address`; a token that failed (revoked, expired since it last worked) is
   * known no longer, so its requests are limited like any other failing ones.
   */
  failed(address: string, tokenHash?: string): void;
  /** Remembers a token that authenticated (by its hash), for `retryAfterMs`. */
  succeeded(tokenHash: string): void;
}

/** Tokens remembered as working, at most, and for how long: a revoked one is refused by its lookup all the same. */
const MAX_KNOWN_TOKENS = 10_000;
const KNOWN_TOKEN_MS = 10 * 60_000;

/**
 * What the limit counts by: an IPv4 address, or the /64 an IPv6 address is
 * in (one host is usually given a whole /64, so counting single addresses
 * would let it change address at every failure). An IPv4 address written
 * as IPv6 (::ffff:10.0.0.1) counts as itself.
 */
export function addressKey(address: string): string {
  if (isIP(address) !== 6) return address;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  return `${ipv6Groups(address).slice(0, 4).map((group) => group.toString(16)).join(':')}::/64`;
}

/** Addresses remembered at most; past it, ended windows go first, then the oldest. */
const MAX_ADDRESSES = 10_000;

export function createFailedAuthLimiter(options: { maxPerWindow: number; windowMs: number; now?: () => number }): FailedAuthLimiter {
  const now = options.now ?? Date.now;
  const windows = new Map<string, { start: number; failures: number }>();
  const current = (address: string): { start: number; failures: number } | undefined => {
    const window = windows.get(address);
    if (window && now() - window.start >= options.windowMs) {
      windows.delete(address);
      return undefined;
    }
    return window;
  };
  const makeRoom = (): void => {
    if (windows.size < MAX_ADDRESSES) return;
    for (const [address, window] of windows) if (now() - window.start >= options.windowMs) windows.delete(address);
    // Oldest first (insertion order) while still full.
    for (const address of windows.keys()) {
      if (windows.size < MAX_ADDRESSES) break;
      windows.delete(address);
    }
  };
  const knownTokens = new Map<string, number>();
  return {
    retryAfterMs(client, tokenHash) {
      const address = addressKey(client);
      if (options.maxPerWindow === 0) return 0;
      const seen = tokenHash === undefined ? undefined : knownTokens.get(tokenHash);
      if (seen !== undefined && now() - seen < KNOWN_TOKEN_MS) return 0;
      const window = current(address);
      return window && window.failures >= options.maxPerWindow ? options.windowMs - (now() - window.start) : 0;
    },
    succeeded(tokenHash) {
      if (options.maxPerWindow === 0) return;
      knownTokens.delete(tokenHash);
      if (knownTokens.size >= MAX_KNOWN_TOKENS) knownTokens.delete(knownTokens.keys().next().value!);
      knownTokens.set(tokenHash, now());
    },
    failed(client, tokenHash) {
      if (options.maxPerWindow === 0) return;
      if (tokenHash !== undefined) knownTokens.delete(tokenHash);
      const address = addressKey(client);
      const window = current(address);
      if (window) window.failures += 1;
      else {
        makeRoom();
        windows.set(address, { start: now(), failures: 1 });
      }
    },
  };
}
