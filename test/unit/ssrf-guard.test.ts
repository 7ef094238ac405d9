import { describe, expect, it } from 'vitest';
import { createSsrfGuard } from '../../connector/delivery/ssrf-guard.js';

describe('createSsrfGuard', () => {
  const guard = createSsrfGuard([]);

  it('refuses loopback, private, link-local, metadata and unspecified addresses', () => {
    for (const address of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '0.0.0.0', '100.64.0.1', '::1', 'fe80::1', 'fd00::1', '::ffff:127.0.0.1']) {
      expect(guard.refusal(address), address).not.toBeNull();
    }
  });

  it('lets public addresses through', () => {
    for (const address of ['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111']) expect(guard.refusal(address), address).toBeNull();
  });

  it('judges an IPv6 address that reaches an IPv4 address by that address: mapped, NAT64, 6to4', () => {
    for (const address of ['::ffff:169.254.169.254', '::ffff:a9fe:a9fe', '64:ff9b::10.0.0.1', '64:ff9b::7f00:1', '2002:7f00:1::1', '2002:a9fe:a9fe:1::']) {
      expect(guard.refusal(address), address).toMatch(/reaches (127|10|169)\./);
    }
    // A public IPv4 address through NAT64 (an IPv6-only network's way out) or 6to4 may be reached.
    for (const address of ['64:ff9b::93.184.216.34', '64:ff9b::808:808', '2002:5db8:d822::1', '::ffff:8.8.8.8']) {
      expect(guard.refusal(address), address).toBeNull();
    }
    expect(createSsrfGuard(['127.0.0.1']).refusal('::ffff:7f00:1')).toBeNull();
  });

  it('refuses whole the IPv6 forms whose IPv4 part it does not read, and documentation and site-local ranges', () => {
    for (const address of ['::127.0.0.1', '::7f00:1', '::2', '64:ff9b:1::a00:1', '2001:0:4136:e378:8000:63bf:3fff:fdd2', '2001:db8::1', 'fec0::1', '100::1', '::ffff:0:7f00:1', '::ffff:0:8.8.8.8']) {
      expect(guard.refusal(address), address).not.toBeNull();
    }
    for (const address of ['192.0.2.1', '198.51.100.7', '203.0.113.9', '192.88.99.1']) expect(guard.refusal(address), address).not.toBeNull();
  });

  it('lets allow-listed addresses and ranges through', () => {
    const allowing = createSsrfGuard(['127.0.0.1', '10.20.0.0/16']);
    expect(allowing.refusal('127.0.0.1')).toBeNull();
    expect(allowing.refusal('10.20.5.5')).toBeNull();
    expect(allowing.refusal('10.21.0.1')).not.toBeNull();
    expect(allowing.refusal('127.0.0.2')).not.toBeNull();
  });
});
