import { afterEach, describe, expect, it, vi } from 'vitest';
import { KeyCache } from '../../src/keys/key-cache.js';
import type { KeyRecord } from '../../src/keys/key-record.js';

const record = (id: string): KeyRecord =>
  Object.freeze({
    id,
    merchantId: 'm',
    name: id,
    type: 'SECRET',
    environment: 'TEST',
    status: 'ACTIVE',
    scopes: [],
    digest: id.padEnd(64, '0'),
    rateLimit: 30,
    rateWindowSeconds: 60,
    expiresAt: null,
    metadata: null,
    allowedIps: [],
    credits: null,
  });

describe('KeyCache', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('keeps records for good while in sync, and for the unsynced TTL only while not', () => {
    vi.useFakeTimers();
    let inSync = true;
    const cache = new KeyCache(10, { inSync: () => inSync, unsyncedTtlMs: 1_000 });
    cache.fill('a', record('a'), cache.begin());
    vi.advanceTimersByTime(60_000);
    expect(cache.get('a')?.id).toBe('a');
    // The bus goes down: a record read a minute ago is no longer trusted; a fresh one is, briefly.
    inSync = false;
    expect(cache.get('a')).toBeUndefined();
    cache.fill('a', record('a'), cache.begin());
    vi.advanceTimersByTime(900);
    expect(cache.get('a')?.id).toBe('a');
    vi.advanceTimersByTime(200);
    expect(cache.get('a')).toBeUndefined();
  });

  it('clear() drops every record and every fill that began before it', () => {
    const cache = new KeyCache(10);
    cache.fill('a', record('a'), cache.begin());
    const inFlight = cache.begin();
    cache.clear();
    expect(cache.get('a')).toBeUndefined();
    cache.fill('b', record('b'), inFlight);
    expect(cache.get('b')).toBeUndefined();
    cache.fill('b', record('b'), cache.begin());
    expect(cache.get('b')?.id).toBe('b');
  });

  it('invalidate() drops one digest and a fill of it that began before', () => {
    const cache = new KeyCache(10);
    const inFlight = cache.begin();
    cache.invalidate('a');
    cache.fill('a', record('a'), inFlight);
    cache.fill('b', record('b'), inFlight);
    expect(cache.get('a')).toBeUndefined();
    expect(cache.get('b')?.id).toBe('b');
  });
});
