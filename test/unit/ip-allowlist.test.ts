import { describe, expect, it } from 'vitest';
import { ipAllowed } from '../../src/auth/admission.js';
import { ALLOWED_IPS_MAX, checkAllowedIps, normalizeIpEntry } from '../../src/keys/ip-allowlist.js';

describe('IP allowlist entries', () => {
  it.each([
    ['203.0.113.7', '203.0.113.7'],
    ['203.0.113.7/32', '203.0.113.7'],
    ['203.0.113.7/24', '203.0.113.0/24'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:db8::1/128', '2001:db8::1'],
    ['2001:db8:abcd::1/48', '2001:db8:abcd::/48'],
    ['::/0', '::/0'],
    ['::ffff:192.0.2.1', '192.0.2.1'],
    ['::ffff:192.0.2.0/120', '192.0.2.0/24'],
  ])('normalises %s to %s', (entry, normalized) => {
    expect(normalizeIpEntry(entry)).toBe(normalized);
  });

  it.each(['', ' 1.2.3.4', '1.2.3', '127.1', '0x7f.0.0.1', '01.2.3.4', '1.2.3.4/33', '1.2.3.4/', '1.2.3.4/-1', '1.2.3.4/1/2', '::1/129', 'fe80::1%eth0', 'host', '1.2.3.4:80', 'a'.repeat(65), 42, null])(
    'refuses %s',
    (entry) => {
      expect(normalizeIpEntry(entry)).toBeNull();
    },
  );

  it('lists every malformed entry by index, de-duplicates the rest, and refuses more than the bound as a whole', () => {
    expect(checkAllowedIps(['10.0.0.1', 'x', '10.0.0.1/32', '::1/200'])).toEqual({
      value: ['10.0.0.1'],
      problems: [
        { field: 'allowedIps.1', message: 'allowedIps.1 is not an IPv4 or IPv6 address or CIDR range.' },
        { field: 'allowedIps.3', message: 'allowedIps.3 is not an IPv4 or IPv6 address or CIDR range.' },
      ],
    });
    const bound = Array.from({ length: ALLOWED_IPS_MAX }, (_, i) => `10.0.${i}.0/24`);
    expect(checkAllowedIps(bound).problems).toEqual([]);
    expect(checkAllowedIps([...bound, '10.1.0.0/16']).problems.map((problem) => problem.field)).toEqual(['allowedIps']);
  });
});

describe('ipAllowed', () => {
  const list = Object.freeze(['203.0.113.0/24', '2001:db8::/32', '198.51.100.7']);
  it.each([
    ['203.0.113.255', true],
    ['203.0.114.0', false],
    ['198.51.100.7', true],
    ['198.51.100.8', false],
    ['2001:db8:ffff::1', true],
    ['2001:db9::', false],
    ['::ffff:203.0.113.1', true],
    ['unknown', false],
    [null, false],
    ['', false],
  ])('%s → %s', (ip, allowed) => {
    expect(ipAllowed(list, ip)).toBe(allowed);
  });

  it('allows any address, or none given, when the list is empty', () => {
    expect(ipAllowed([], '192.0.2.1')).toBe(true);
    expect(ipAllowed([], null)).toBe(true);
  });
});
