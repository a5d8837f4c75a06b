import type { IncomingMessage } from 'node:http';
import proxyaddr from 'proxy-addr';
import type { TrustProxy } from '../config.js';
import { normalizeAddress } from '../keys/ip-allowlist.js';

/** Whether the peer at `addr`, `hop` steps from this server (0: the socket's peer), may name the next one. */
export type TrustFunction = (addr: string, hop: number) => boolean;

const NONE: TrustFunction = () => false;
const compiled = new WeakMap<readonly string[], TrustFunction>();

/** The trust function for a TRUST_PROXY setting (lists compiled once, then reused). */
export function trustFunction(trust: TrustProxy): TrustFunction {
  if (trust === false) return NONE;
  if (typeof trust === 'number') return (_addr, hop) => hop < trust;
  let fn = compiled.get(trust);
  if (!fn) compiled.set(trust, (fn = proxyaddr.compile([...trust])));
  return fn;
}

/**
 * Whether a socket's peer is a proxy named in TRUST_PROXY's list. A hop count names no
 * address, so under one every peer is its own client as far as connection caps go.
 */
export function isTrustedProxy(trust: TrustProxy, socketAddress: string): boolean {
  return Array.isArray(trust) && trustFunction(trust)(socketAddress, 0);
}

/**
 * The client's address, as Express takes it (proxy-addr): walking `X-Forwarded-For` from the
 * socket's peer towards the client while each hop is trusted, and stopping at the first that
 * is not. Entries that are not valid IP addresses are never taken: the nearest valid address
 * before them on the path (at worst the socket's own peer) stands for the client. Without
 * `X-Forwarded-For`, a trusted peer may name the client in `X-Real-IP` (NGINX's habit) instead.
 */
export function clientAddress(req: IncomingMessage, trust: TrustProxy): string {
  const socketAddress = normalizeAddress(req.socket.remoteAddress) ?? 'unknown';
  if (trust === false) return socketAddress;
  if (req.headers['x-forwarded-for'] === undefined) {
    const real = req.headers['x-real-ip'];
    if (typeof real !== 'string' || !trustFunction(trust)(socketAddress, 0)) return socketAddress;
    return normalizeAddress(real.trim()) ?? socketAddress;
  }
  const path = proxyaddr.all(req, trustFunction(trust));
  for (let i = path.length - 1; i > 0; i--) {
    const address = normalizeAddress(path[i]);
    if (address) return address;
  }
  return socketAddress;
}
