import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DigestMap } from '../../src/keys/digest-map.js';

const digest = () => createHash('sha256').update(randomBytes(16)).digest('hex');

describe('DigestMap', () => {
  it('holds every digest added, with its merchant, through growth, and no others (but for 64-bit prefix twins)', () => {
    const map = new DigestMap();
    const added = Array.from({ length: 50_000 }, (_, i) => ({ digest: digest(), merchantId: `m_${i % 997}` }));
    for (const { digest: value, merchantId } of added) map.set(value, merchantId);
    expect(map.size).toBe(added.length);
    expect(added.every((entry) => map.has(entry.digest))).toBe(true);
    expect(added.filter((entry) => map.merchantOf(entry.digest) !== entry.merchantId)).toEqual([]);
    const others = Array.from({ length: 50_000 }, digest);
    expect(others.filter((value) => map.has(value))).toEqual([]);
    expect(others.filter((value) => map.merchantOf(value) !== undefined)).toEqual([]);
  });

  it('counts a digest added twice once, and answers "maybe" for a digest sharing its first 64 bits', () => {
    const map = new DigestMap();
    const value = digest();
    map.set(value, 'm_a');
    map.set(value, 'm_a');
    expect(map.size).toBe(1);
    expect(map.merchantOf(value)).toBe('m_a');
    expect(map.has(value.slice(0, 16) + '0'.repeat(48))).toBe(true);
  });

  it('names no owner for a prefix two merchants’ keys share: only the database can tell', () => {
    const map = new DigestMap();
    const value = digest();
    const twin = value.slice(0, 16) + 'f'.repeat(48);
    map.set(value, 'm_a');
    map.set(twin, 'm_b');
    expect(map.size).toBe(1);
    expect(map.merchantOf(value)).toBeNull();
    expect(map.merchantOf(twin)).toBeNull();
    // Learning the first owner again does not make the prefix one merchant's.
    map.set(value, 'm_a');
    expect(map.merchantOf(value)).toBeNull();
  });

  it('keeps the all-zero prefix, which is also its empty mark', () => {
    const map = new DigestMap();
    const zero = '0'.repeat(64);
    expect(map.has(zero)).toBe(false);
    expect(map.merchantOf(zero)).toBeUndefined();
    map.set(zero, 'm_zero');
    expect(map.has(zero)).toBe(true);
    expect(map.merchantOf(zero)).toBe('m_zero');
  });
});
