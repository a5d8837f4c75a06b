import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import type { InputProblem } from '../errors.js';

/** At most this many entries in a key's allowlist (CONTRACT §9.1). */
export const ALLOWED_IPS_MAX = 100;
/** Longer than any address or range can be written (an IPv6 range is at most 43 characters). */
const ENTRY_MAX = 64;

type Address = ipaddr.IPv4 | ipaddr.IPv6;
type Range = [Address, number];

/**
 * An address as the service records it: a valid IPv4 or IPv6 address (an IPv4-mapped IPv6
 * address as its IPv4 form, IPv6 lowercase), or null for anything else.
 */
export function normalizeAddress(raw: string | undefined): string | null {
  if (!raw) return null;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(raw);
  const address = mapped ? mapped[1]! : raw;
  const family = isIP(address);
  if (family === 4) return address;
  if (family === 6) return address.toLowerCase();
  return null;
}

/**
 * One allowlist entry, an IPv4 or IPv6 address or CIDR range, as it is stored: the range's
 * network address (host bits cleared), IPv6 in RFC 5952 form, an IPv4-mapped IPv6 address as
 * IPv4 (client addresses are recorded so), and a single address without `/32` or `/128`.
 * Null when it is not one. Only strict forms are taken (node's `isIP`): no `127.1`, no zone ids.
 */
export function normalizeIpEntry(entry: unknown): string | null {
  if (typeof entry !== 'string' || entry.length > ENTRY_MAX) return null;
  const slash = entry.indexOf('/');
  const text = slash === -1 ? entry : entry.slice(0, slash);
  if (isIP(text) === 0 || text.includes('%')) return null;
  let address: Address = ipaddr.parse(text);
  let bits = address.kind() === 'ipv4' ? 32 : 128;
  let prefix = bits;
  if (slash !== -1) {
    const written = entry.slice(slash + 1);
    if (!/^\d{1,3}$/.test(written) || Number(written) > bits) return null;
    prefix = Number(written);
  }
  if (address instanceof ipaddr.IPv6 && address.isIPv4MappedAddress() && prefix >= 96) {
    address = address.toIPv4Address();
    bits = 32;
    prefix -= 96;
  }
  const network =
    address instanceof ipaddr.IPv4
      ? ipaddr.IPv4.networkAddressFromCIDR(`${address.toString()}/${prefix}`).toString()
      : ipaddr.IPv6.networkAddressFromCIDR(`${address.toRFC5952String()}/${prefix}`).toRFC5952String();
  return prefix === bits ? network : `${network}/${prefix}`;
}

/**
 * Checks an allowlist as a client sent it: every malformed entry is its own problem (at
 * `allowedIps.<index>`, the value never echoed), more than ALLOWED_IPS_MAX entries one more.
 * The value is the normalised list, duplicates dropped; empty means any address.
 */
export function checkAllowedIps(entries: unknown, field = 'allowedIps'): { value: string[]; problems: InputProblem[] } {
  if (!Array.isArray(entries)) return { value: [], problems: [{ field, message: `${field} must be a list.` }] };
  const problems: InputProblem[] = [];
  if (entries.length > ALLOWED_IPS_MAX) problems.push({ field, message: `${field} may list at most ${ALLOWED_IPS_MAX} addresses or ranges.` });
  const value = new Set<string>();
  // Past the bound, the list is refused as a whole: its entries are not each looked at.
  entries.slice(0, ALLOWED_IPS_MAX).forEach((entry, index) => {
    const normalized = normalizeIpEntry(entry);
    if (normalized === null) problems.push({ field: `${field}.${index}`, message: `${field}.${index} is not an IPv4 or IPv6 address or CIDR range.` });
    else value.add(normalized);
  });
  return { value: [...value], problems };
}

/** A matcher for a stored (normalised) allowlist: whether a client address falls in one of its ranges. */
export function compileAllowlist(entries: readonly string[]): (ip: string) => boolean {
  const ranges: Range[] = entries.map((entry) => (entry.includes('/') ? ipaddr.parseCIDR(entry) : [ipaddr.parse(entry), entry.includes(':') ? 128 : 32]));
  return (ip) => {
    if (isIP(ip) === 0) return false;
    let address: Address = ipaddr.parse(ip);
    if (address instanceof ipaddr.IPv6 && address.isIPv4MappedAddress()) address = address.toIPv4Address();
    return ranges.some((range) => range[0].kind() === address.kind() && address.match(range));
  };
}
