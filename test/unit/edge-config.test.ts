import { describe, expect, it } from 'vitest';
import { descriptorLimit, loadConfig } from '../../src/config.js';

const load = (env: Record<string, string>) => loadConfig({ DATABASE_URL: 'sqlite:/tmp/keyring-edge-config.db', ...env });

describe('TRUST_PROXY', () => {
  it('takes false, true (one hop), a hop count or a list of trusted addresses, CIDRs and names', () => {
    expect(load({}).trustProxy).toBe(false);
    expect(load({ TRUST_PROXY: 'false' }).trustProxy).toBe(false);
    expect(load({ TRUST_PROXY: '0' }).trustProxy).toBe(false);
    expect(load({ TRUST_PROXY: 'true' }).trustProxy).toBe(1);
    expect(load({ TRUST_PROXY: '3' }).trustProxy).toBe(3);
    expect(load({ TRUST_PROXY: 'loopback, 10.0.0.0/8,uniquelocal, 2001:db8::/32' }).trustProxy).toEqual([
      'loopback',
      '10.0.0.0/8',
      'uniquelocal',
      '2001:db8::/32',
    ]);
  });

  it('refuses anything proxy-addr would not compile, naming the variable', () => {
    for (const value of ['everyone', '10.0.0.0/99', '300.1.1.1', 'loopback, nope', '-1', '1.5']) {
      expect(() => load({ TRUST_PROXY: value }), value).toThrow(/TRUST_PROXY/);
    }
  });
});

describe('HTTP timeouts and connection caps', () => {
  it('has defaults, with the total cap under the descriptor limit', () => {
    const config = load({});
    expect(config).toMatchObject({ headersTimeoutSeconds: 10, requestTimeoutSeconds: 30, keepAliveTimeoutSeconds: 5, maxConnectionsPerIp: 256 });
    const limit = descriptorLimit();
    expect(config.maxConnections).toBe(limit === undefined ? 1_000 : Math.min(10_000, Math.floor(limit * 0.8)));
    expect(config.maxConnections).toBeLessThan(limit ?? Infinity);
  });

  it('refuses a request timeout shorter than the headers timeout', () => {
    expect(() => load({ HTTP_HEADERS_TIMEOUT_SECONDS: '20', HTTP_REQUEST_TIMEOUT_SECONDS: '10' })).toThrow(/HTTP_REQUEST_TIMEOUT_SECONDS/);
    expect(() => load({ MAX_CONNECTIONS_PER_IP: '0' })).toThrow(/MAX_CONNECTIONS_PER_IP/);
  });
});

describe('METRICS_TOKEN', () => {
  it('must be long enough, and is never echoed in the error', () => {
    expect(load({ METRICS_TOKEN: 'x'.repeat(32) }).metricsToken).toBe('x'.repeat(32));
    expect(() => load({ METRICS_TOKEN: 'short-secret' })).toThrow(/METRICS_TOKEN/);
    expect(() => load({ METRICS_TOKEN: 'short-secret' })).not.toThrow(/short-secret/);
  });

  it('METRICS_PORT and METRICS_HOST', () => {
    expect(load({}).metricsPort).toBeUndefined();
    expect(load({ METRICS_PORT: '9464' })).toMatchObject({ metricsPort: 9464, metricsHost: '127.0.0.1' });
    expect(() => load({ METRICS_PORT: '70000' })).toThrow(/METRICS_PORT/);
  });
});
