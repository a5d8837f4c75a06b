import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createKey, startTestServer, waitFor, type TestServer } from '../helpers/server.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text exposition format strictly enough to catch a malformed line. */
function parseMetrics(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    if (line.startsWith('# HELP ')) continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.e+-]+|[Nn]a[Nn]|\+Inf|-Inf)$/.exec(line);
    if (!sample) throw new Error(`malformed metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (sample[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[key!] = value!;
    samples.push({ name: sample[1]!, labels, value: Number(sample[3]) });
  }
  return { samples, types };
}

describe('GET /metrics', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.stop());

  const scrape = async () => {
    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    return parseMetrics(await res.text());
  };
  const value = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
    samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((sum, s) => sum + s.value, 0);

  it('exposes process metrics and keyring metrics with Prometheus names', async () => {
    const { samples, types } = await scrape();
    expect(types.get('keyring_requests_total')).toBe('counter');
    expect(types.get('keyring_request_duration_seconds')).toBe('histogram');
    for (const name of ['keyring_rate_limited_total', 'keyring_auth_failed_total', 'keyring_events_written_total', 'keyring_events_published_total', 'keyring_rate_limit_degraded_total']) {
      expect(types.get(name), name).toBe('counter');
    }
    for (const name of ['keyring_open_sockets', 'keyring_open_subscriptions', 'keyring_ledger_flush_lag_seconds', 'keyring_ledger_pending_events']) {
      expect(types.get(name), name).toBe('gauge');
    }
    expect(samples.some((s) => s.name === 'keyring_process_resident_memory_bytes')).toBe(true);
    for (const [name, type] of types) if (type === 'counter') expect(name, name).toMatch(/_total$/);
  });

  it('counts requests by operation and outcome, refusals, events and sockets', async () => {
    const limited = await createKey(server, { merchantId: 'metrics', scopes: [], rateLimit: { limit: 1, windowSeconds: 60 } });
    const before = (await scrape()).samples;
    await server.gql('{ viewer { keyId } }');
    await server.gql('{ apiKeys { totalCount } }', {}, limited.secret); // FORBIDDEN
    await server.gql('{ viewer { keyId } }', {}, limited.secret); // over its limit of 1
    await server.gql('{ viewer { keyId } }', {}, 'sk_test_nope'); // refused credential
    const client = createClient({ url: `${server.url.replace('http', 'ws')}/graphql`, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${server.adminKey}` } });
    const stop = client.subscribe({ query: 'subscription { auditEvents { id } }' }, { next: () => {}, error: () => {}, complete: () => {} });
    try {
      const after = await waitFor(async () => {
        const { samples } = await scrape();
        return value(samples, 'keyring_open_subscriptions') >= 1 && value(samples, 'keyring_rate_limited_total') > value(before, 'keyring_rate_limited_total') ? samples : null;
      });
      const delta = (name: string, labels: Record<string, string> = {}) => value(after, name, labels) - value(before, name, labels);
      expect(delta('keyring_requests_total', { operation: 'viewer', code: 'OK' })).toBe(1);
      expect(delta('keyring_requests_total', { operation: 'apiKeys', code: 'FORBIDDEN' })).toBe(1);
      expect(delta('keyring_requests_total', { code: 'RATE_LIMITED' })).toBe(1);
      expect(delta('keyring_requests_total', { code: 'UNAUTHENTICATED' })).toBe(1);
      expect(delta('keyring_request_duration_seconds_count')).toBeGreaterThanOrEqual(4);
      expect(delta('keyring_auth_failed_total')).toBe(1);
      expect(delta('keyring_access_denied_total')).toBe(1);
      expect(delta('keyring_events_written_total')).toBeGreaterThanOrEqual(4);
      expect(value(after, 'keyring_open_sockets')).toBeGreaterThanOrEqual(1);
    } finally {
      stop();
      await client.dispose();
    }
  });
});
