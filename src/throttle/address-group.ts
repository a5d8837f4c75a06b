import { isIPv6 } from 'node:net';

/**
 * The unit a per-address limit counts: an IPv4 address as it is, an IPv6 address by its
 * /64 prefix (one subscriber usually holds a whole /64, so counting single IPv6 addresses
 * would give one client 2^64 separate limits). Anything that is not an IPv6 address is
 * returned unchanged. The audit `ip` keeps the full address; only limit keys are grouped.
 */
export function addressGroup(ip: string): string {
  const address = ip.split('%')[0]!;
  if (!isIPv6(address)) return ip;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  return `${hextets(address).slice(0, 4).join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address, lowercase and without leading zeros. */
function hextets(address: string): string[] {
  const [head, tail] = address.toLowerCase().split('::') as [string, string | undefined];
  const part = (text: string | undefined) => (text ? text.split(':').flatMap(expandIPv4) : []);
  const left = part(head);
  const right = part(tail);
  const zeros = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...zeros, ...right].map((group) => Number.parseInt(group, 16).toString(16));
}

/** An embedded dotted IPv4 tail is the last two groups. */
function expandIPv4(group: string): string[] {
  if (!group.includes('.')) return [group];
  const [a, b, c, d] = group.split('.').map(Number) as [number, number, number, number];
  return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
}
