import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditEventEntity } from '../../src/audit/audit-event.entity.js';
import type { LocalLimiter } from '../../src/throttle/local-limiter.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const LIMIT = 1000;

/** One request without a key (it counts against the client address); answers the address's remaining count. */
async function remaining(server: TestServer, forwardedFor?: string): Promise<number> {
  const result = await server.gql('{ __typename }', {}, null, forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor });
  expect(result.status).toBe(200);
  return Number(result.headers.get('ratelimit-remaining'));
}

/** The audit `ip` a failed authentication records for a request with this X-Forwarded-For. */
async function recordedIp(server: TestServer, forwardedFor: string): Promise<string | null | undefined> {
  const result = await server.gql('{ __typename }', {}, 'sk_live_notakey', { 'x-forwarded-for': forwardedFor });
  expect(result.status).toBe(401);
  const requestId = result.headers.get('x-request-id')!;
  await server.app.services.ledger.flush();
  const [event] = await server.app.services.db.fork().find(AuditEventEntity, { type: 'AUTH_FAILED', requestId });
  return event?.ip;
}

function serverWith(env: Record<string, string>) {
  const holder: { server?: TestServer } = {};
  beforeAll(async () => {
    // recordedIp() reads each request's own AUTH_FAILED row: refusals are not folded here.
    holder.server = await startTestServer({ env: { IP_RATE_LIMIT: String(LIMIT), IP_RATE_WINDOW_SECONDS: '60', AUDIT_REFUSAL_WINDOW_SECONDS: '0', ...env } });
  });
  afterAll(() => holder.server?.stop());
  return () => holder.server!;
}

describe('TRUST_PROXY unset: the socket address is the client', () => {
  const server = serverWith({});

  it('ignores X-Forwarded-For: spoofed addresses share the socket address limit and never reach the audit ip', async () => {
    const first = await remaining(server(), '198.51.100.1');
    expect(await remaining(server(), '198.51.100.2')).toBe(first - 1);
    expect(await remaining(server())).toBe(first - 2);
    expect(await recordedIp(server(), '198.51.100.3')).toBe('127.0.0.1');
  });
});

describe('TRUST_PROXY=true: one proxy in front', () => {
  const server = serverWith({ TRUST_PROXY: 'true' });

  it('takes the entry the proxy appended, not the leftmost one the client wrote', async () => {
    const first = await remaining(server(), '6.6.6.1, 203.0.113.7');
    expect(first).toBe(LIMIT - 1);
    // The client rewrites the leftmost entry every time: still one address, still one limit.
    expect(await remaining(server(), '6.6.6.2, 203.0.113.7')).toBe(LIMIT - 2);
    expect(await remaining(server(), '6.6.6.3,203.0.113.7')).toBe(LIMIT - 3);
    expect(await recordedIp(server(), '6.6.6.4, 203.0.113.8')).toBe('203.0.113.8');
  });

  it('takes only valid IP addresses: anything else stands for the proxy itself', async () => {
    for (const junk of ['not-an-ip', '<script>alert(1)</script>', '203.0.113.300', '1.2.3.4:80', 'a'.repeat(200)]) {
      expect(await recordedIp(server(), `203.0.113.50, ${junk}`), junk).toBe('127.0.0.1');
    }
  });

  it('records an IPv4-mapped IPv6 address as IPv4 and counts it with it', async () => {
    expect(await recordedIp(server(), '::ffff:203.0.113.9')).toBe('203.0.113.9');
    const first = await remaining(server(), '::ffff:203.0.113.10');
    expect(await remaining(server(), '203.0.113.10')).toBe(first - 1);
  });

  it('counts IPv6 clients per /64, and records each full address', async () => {
    const first = await remaining(server(), '2001:db8:1:2::1');
    expect(first).toBe(LIMIT - 1);
    expect(await remaining(server(), '2001:db8:1:2::2')).toBe(LIMIT - 2);
    expect(await remaining(server(), '2001:DB8:1:2:ffff:ffff:ffff:ffff')).toBe(LIMIT - 3);
    expect(await remaining(server(), '2001:0db8:0001:0002:0:0:0:9')).toBe(LIMIT - 4);
    // The neighbouring /64 is someone else.
    expect(await remaining(server(), '2001:db8:1:3::1')).toBe(LIMIT - 1);
    expect(await recordedIp(server(), '2001:db8:1:2::abcd')).toBe('2001:db8:1:2::abcd');
  });
});

describe('TRUST_PROXY as a hop count and as a list of trusted addresses', () => {
  const twoHops = serverWith({ TRUST_PROXY: '2' });
  const listed = serverWith({ TRUST_PROXY: 'loopback, 10.0.0.0/8' });

  it('walks back as many hops as configured', async () => {
    expect(await recordedIp(twoHops(), '6.6.6.6, 198.51.100.20, 10.1.1.1')).toBe('198.51.100.20');
  });

  it('walks back while each hop is a trusted proxy, and stops at the first that is not', async () => {
    expect(await recordedIp(listed(), '6.6.6.6, 198.51.100.21, 10.1.1.1')).toBe('198.51.100.21');
    expect(await recordedIp(listed(), '6.6.6.6, 198.51.100.22, 192.0.2.1')).toBe('192.0.2.1');
  });
});

describe('per-address state is bounded', () => {
  const server = serverWith({ TRUST_PROXY: 'true', LIMITER_MAX_KEYS: '100' });

  it('keeps at most LIMITER_MAX_KEYS address windows however many addresses are spoofed', async () => {
    const limiter = server().app.services.limiter as LocalLimiter;
    expect(limiter.kind).toBe('local');
    for (let batch = 0; batch < 25; batch++) {
      await Promise.all(Array.from({ length: 40 }, (_, i) => remaining(server(), `198.18.${batch}.${i + 1}`)));
    }
    expect(limiter.size).toBeLessThanOrEqual(100);
    expect(limiter.size).toBeGreaterThanOrEqual(50);
    // The newest addresses are the ones kept, and still counted.
    expect(await remaining(server(), '198.18.24.40')).toBe(LIMIT - 2);
  });
});
