import { describe, expect, it } from 'vitest';
import { addressKey, createFailedAuthLimiter } from '../../admin-api/auth/failed-auth-limiter.js';

describe('failed authentications per address', () => {
  it('refuses an address past its failures until its window ends, and others not at all', () => {
    let clock = 0;
    const limiter = createFailedAuthLimiter({ maxPerWindow: 3, windowMs: 60_000, now: () => clock });
    for (let i = 0; i < 3; i += 1) {
      expect(limiter.retryAfterMs('10.0.0.1')).toBe(0);
      limiter.failed('10.0.0.1');
    }
    clock = 15_000;
    expect(limiter.retryAfterMs('10.0.0.1')).toBe(45_000);
    expect(limiter.retryAfterMs('10.0.0.2')).toBe(0);
    clock = 60_000;
    expect(limiter.retryAfterMs('10.0.0.1')).toBe(0);
    // A new window counts from its first failure.
    limiter.failed('10.0.0.1');
    expect(limiter.retryAfterMs('10.0.0.1')).toBe(0);
  });

  it('never holds back a token that worked lately, so bad tokens from a shared address lock no admin out', () => {
    let clock = 0;
    const limiter = createFailedAuthLimiter({ maxPerWindow: 1, windowMs: 60_000, now: () => clock });
    limiter.succeeded('good');
    limiter.failed('proxy');
    expect(limiter.retryAfterMs('proxy')).toBe(60_000);
    expect(limiter.retryAfterMs('proxy', 'unknown')).toBe(60_000);
    expect(limiter.retryAfterMs('proxy', 'good')).toBe(0);
    // Ten minutes after it last worked, it is a stranger again.
    clock = 10 * 60_000;
    limiter.failed('proxy');
    expect(limiter.retryAfterMs('proxy', 'good')).toBe(60_000);
  });

  it('limits a token that worked once it fails (revoked, expired): it no longer opens the way to unlimited lookups', () => {
    const limiter = createFailedAuthLimiter({ maxPerWindow: 1, windowMs: 60_000, now: () => 0 });
    limiter.succeeded('revoked-now');
    limiter.failed('10.0.0.9', 'revoked-now');
    expect(limiter.retryAfterMs('10.0.0.9', 'revoked-now')).toBe(60_000);
  });

  it('is off at 0, and forgets the oldest addresses rather than growing without bound', () => {
    const off = createFailedAuthLimiter({ maxPerWindow: 0, windowMs: 60_000 });
    for (let i = 0; i < 100; i += 1) off.failed('10.0.0.1');
    expect(off.retryAfterMs('10.0.0.1')).toBe(0);

    const limiter = createFailedAuthLimiter({ maxPerWindow: 1, windowMs: 60_000, now: () => 0 });
    limiter.failed('first');
    for (let i = 0; i < 10_000; i += 1) limiter.failed(`addr-${i}`);
    expect(limiter.retryAfterMs('first')).toBe(0);
    expect(limiter.retryAfterMs('addr-9999')).toBe(60_000);
  });
});

describe('what the limit counts by', () => {
  it('counts an IPv6 host by its /64, and an IPv4 address however it is written', () => {
    expect(addressKey('10.0.0.1')).toBe('10.0.0.1');
    expect(addressKey('::ffff:10.0.0.1')).toBe('10.0.0.1');
    expect(addressKey('2001:db8:0:1::7')).toBe('2001:db8:0:1::/64');
    expect(addressKey('2001:db8:0:1:aaaa:bbbb:cccc:dddd')).toBe('2001:db8:0:1::/64');
    expect(addressKey('2001:0db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('fe80::1')).toBe('fe80:0:0:0::/64');
    // A host changing its address within its /64 at every failure is one client all the same.
    const limiter = createFailedAuthLimiter({ maxPerWindow: 2, windowMs: 60_000, now: () => 0 });
    limiter.failed('2001:db8:0:1::a');
    limiter.failed('2001:db8:0:1::b');
    expect(limiter.retryAfterMs('2001:db8:0:1::c')).toBe(60_000);
    expect(limiter.retryAfterMs('2001:db8:0:2::c')).toBe(0);
  });
});
