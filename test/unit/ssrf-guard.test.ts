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

  it('lets allow-listed addresses and ranges through', () => {
    const allowing = createSsrfGuard(['127.0.0.1', '10.20.0.0/16']);
    expect(allowing.refusal('127.0.0.1')).toBeNull();
    expect(allowing.refusal('10.20.5.5')).toBeNull();
    expect(allowing.refusal('10.21.0.1')).not.toBeNull();
    expect(allowing.refusal('127.0.0.2')).not.toBeNull();
  });
});
