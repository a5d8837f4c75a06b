import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP, type LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import type { InputProblem } from '../errors.js';

/** One address a host name resolves to. */
export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a host name to every address it has (injectable: tests resolve names of their own). */
export type HostResolver = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolver: HostResolver = async (hostname) =>
  (await dnsLookup(hostname, { all: true, verbatim: true })).map(({ address, family }) => ({ address, family: family === 6 ? 6 : 4 }));

export const URL_MAX = 2_048;

/** A delivery refused before any byte was sent: the target is not one the service may call. */
export class TargetRefusedError extends Error {
  override name = 'TargetRefusedError';
}

/**
 * Why an address may not be called, or null when it may: anything but public unicast (loopback,
 * private, link-local, the cloud metadata addresses, carrier-grade NAT, multicast, reserved, and
 * IPv6 forms that embed an IPv4 address). IPv4-mapped IPv6 is judged as the IPv4 address it maps.
 */
export function addressProblem(address: string): string | null {
  if (!ipaddr.isValid(address)) return 'not an IP address';
  const range = ipaddr.process(address).range();
  return range === 'unicast' ? null : `a ${range} address`;
}

export interface TargetGuardOptions {
  allowHttp: boolean;
  allowPrivate: boolean;
  resolver?: HostResolver;
}

/**
 * What an endpoint URL may be (CONTRACT §9.2): https (http only with WEBHOOK_ALLOW_HTTP), no
 * credentials in it, and a host whose every address is public unless WEBHOOK_ALLOW_PRIVATE. Judged
 * at creation (`problems`) and again when a delivery connects (`connectLookup`, `literalProblem`),
 * because what a name resolves to can change after it was checked.
 */
export class TargetGuard {
  private readonly resolver: HostResolver;

  constructor(private readonly options: TargetGuardOptions) {
    this.resolver = options.resolver ?? systemResolver;
  }

  /** Every problem with `url` as an endpoint, resolving its host (empty: acceptable). */
  async problems(url: string, field = 'url'): Promise<InputProblem[]> {
    const at = (message: string): InputProblem[] => [{ field, message }];
    if (url.length > URL_MAX) return at(`url must be at most ${URL_MAX} characters.`);
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return at('url is not a valid URL.');
    }
    const schemes = this.options.allowHttp ? ['https:', 'http:'] : ['https:'];
    if (!schemes.includes(parsed.protocol)) return at(this.options.allowHttp ? 'url must be http:// or https://.' : 'url must be https://.');
    if (parsed.username || parsed.password) return at('url must not hold credentials.');
    if (this.options.allowPrivate) return [];
    try {
      await this.addresses(hostOf(parsed));
    } catch (error) {
      return at(`url is refused: ${(error as Error).message}.`);
    }
    return [];
  }

  /** Why a URL whose host is an IP literal may not be called (no lookup happens for those), or null. */
  literalProblem(url: URL): string | null {
    if (this.options.allowPrivate) return null;
    const host = hostOf(url);
    if (!isIP(host)) return null;
    const problem = addressProblem(host);
    return problem && `its host is ${problem}`;
  }

  /**
   * The lookup an outbound connection uses (undici's `connect.lookup`, net.connect's signature):
   * resolves the name itself and hands over only checked addresses, so the address connected to
   * is the address checked.
   */
  connectLookup(): LookupFunction {
    return ((hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
      this.addresses(hostname).then(
        (addresses) => {
          if (options?.all) callback(null, addresses);
          else callback(null, addresses[0]!.address, addresses[0]!.family);
        },
        (error: unknown) => callback(error),
      );
    }) as unknown as LookupFunction;
  }

  /** The host's addresses, refused when it has none or any of them is not public (unless allowed). */
  private async addresses(host: string): Promise<ResolvedAddress[]> {
    const literal = isIP(host);
    let addresses: ResolvedAddress[];
    if (literal) addresses = [{ address: host, family: literal === 6 ? 6 : 4 }];
    else {
      try {
        addresses = await this.resolver(host);
      } catch {
        throw new TargetRefusedError(`its host ${host} does not resolve`);
      }
    }
    if (addresses.length === 0) throw new TargetRefusedError(`its host ${host} does not resolve`);
    if (this.options.allowPrivate) return addresses;
    for (const { address } of addresses) {
      const problem = addressProblem(address);
      if (problem) throw new TargetRefusedError(`its host resolves to ${problem}`);
    }
    return addresses;
  }
}

/** The URL's host without IPv6 brackets. */
function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}
