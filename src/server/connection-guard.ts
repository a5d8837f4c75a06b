import type { Server, ServerOptions } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { Tally } from '../tally.js';
import { addressGroup } from '../throttle/address-group.js';
import { normalizeAddress } from '../keys/ip-allowlist.js';
import { clientAddress, isTrustedProxy } from './client-address.js';

type GuardConfig = Pick<
  Config,
  'headersTimeoutSeconds' | 'requestTimeoutSeconds' | 'keepAliveTimeoutSeconds' | 'maxConnections' | 'maxConnectionsPerIp' | 'trustProxy'
>;

/** The HTTP server's timeouts: a half-sent request is dropped after the headers (or request) timeout. */
export function httpServerOptions(config: GuardConfig): ServerOptions {
  const headersTimeout = config.headersTimeoutSeconds * 1000;
  return {
    headersTimeout,
    requestTimeout: config.requestTimeoutSeconds * 1000,
    keepAliveTimeout: config.keepAliveTimeoutSeconds * 1000,
    // Node looks for expired headers and requests on this interval (30 s by default), so a
    // timeout of a few seconds needs a check about as often, or slow clients stay 30 s anyway.
    connectionsCheckingInterval: Math.min(30_000, Math.max(250, Math.floor(headersTimeout / 4))),
  };
}

/**
 * Caps open connections: all of them at `maxConnections` (Node drops the rest), and per
 * client address (IPv6 per /64, as the rate limits count) at `maxConnectionsPerIp`, a
 * connection past it destroyed at once, before a byte of it is read.
 *
 * A raw connection's client is its socket's peer. A WebSocket stays the connection it was
 * upgraded from, so it is already counted, except when the peer is a proxy named in
 * TRUST_PROXY's list: proxies are not capped per connection, and a WebSocket through one is
 * counted at its upgrade under the client address the proxy forwarded.
 */
export function guardConnections(server: Server, config: GuardConfig, logger?: Logger): void {
  server.maxConnections = config.maxConnections;
  const open = new Tally();
  let unreported = 0;
  let lastReport = 0;

  // Refusals are logged at most once a minute, with their count: a flood must not become a flood of log lines.
  const report = () => {
    unreported++;
    const now = Date.now();
    if (!logger || now - lastReport < 60_000) return;
    logger.warn({ refused: unreported, maxConnectionsPerIp: config.maxConnectionsPerIp }, 'connections refused over the per-address cap');
    lastReport = now;
    unreported = 0;
  };

  const hold = (group: string, socket: Duplex): boolean => {
    if (open.get(group) >= config.maxConnectionsPerIp) {
      report();
      return false;
    }
    open.add(group);
    socket.once('close', () => open.remove(group));
    return true;
  };

  server.on('connection', (socket) => {
    const peer = normalizeAddress(socket.remoteAddress);
    if (!peer || isTrustedProxy(config.trustProxy, peer)) return;
    if (!hold(addressGroup(peer), socket)) socket.destroy();
  });

  server.on('upgrade', (req, socket: Duplex) => {
    const peer = normalizeAddress(req.socket.remoteAddress);
    if (!peer || !isTrustedProxy(config.trustProxy, peer)) return;
    if (!hold(addressGroup(clientAddress(req, config.trustProxy)), socket)) {
      // The WebSocket server's own upgrade listener finds the socket no longer writable and leaves it.
      socket.end('HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    }
  });
}
