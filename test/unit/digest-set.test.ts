import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DigestSet } from '../../src/keys/digest-set.js';

const digest = () => createHash('sha256').update(randomBytes(16)).digest('hex');

describe('DigestSet', () => {
  it('holds every digest added, through growth, and no others (but for 64-bit prefix twins)', () => {
    const set = new DigestSet();
    const added = Array.from({ length: 50_000 }, digest);
    for (const value of added) set.add(value);
    expect(set.size).toBe(added.length);
    expect(added.every((value) => set.has(value))).toBe(true);
    const others = Array.from({ length: 50_000 }, digest);
    expect(others.filter((value) => set.has(value))).toEqual([]);
  });

  it('counts a digest added twice once, and answers "maybe" for a digest sharing its first 64 bits', () => {
    const set = new DigestSet();
    const value = digest();
    set.add(value);
    set.add(value);
    expect(set.size).toBe(1);
    expect(set.has(value.slice(0, 16) + '0'.repeat(48))).toBe(true);
  });

  it('keeps the all-zero prefix, which is also its empty mark', () => {
    const set = new DigestSet();
    const zero = '0'.repeat(64);
    expect(set.has(zero)).toBe(false);
    set.add(zero);
    expect(set.has(zero)).toBe(true);
  });
});
