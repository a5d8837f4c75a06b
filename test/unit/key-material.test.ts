import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BASE62,
  checksum,
  digestKey,
  generateKey,
  parseKey,
  sameDigest,
  toBase62,
  type KeyEnvironment,
  type KeyType,
} from '../../src/keys/key-material.js';

const TYPES: KeyType[] = ['SECRET', 'PUBLIC', 'TOKENIZATION'];
const ENVS: KeyEnvironment[] = ['LIVE', 'TEST'];

describe('checksum (contract section 8)', () => {
  it.each([
    ['sk_test_0123456789ABCDEFGHIJabcdefghijKL', '33WMuh', 0xa6eb5ae3],
    ['pk_live_Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0Pp', '42LwHA', 0xdc7f0908],
  ])('%s → %s', (head, expected, crc) => {
    expect(crc32(Buffer.from(head, 'utf8')) >>> 0).toBe(crc);
    expect(checksum(head)).toBe(expected);
    expect(parseKey(head + expected)).not.toBeNull();
  });

  it('writes base62 most significant digit first, digits then upper then lower case, padded to 6', () => {
    expect(BASE62).toBe('0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz');
    expect(toBase62(0, 6)).toBe('000000');
    expect(toBase62(61, 6)).toBe('00000z');
    expect(toBase62(62, 6)).toBe('000010');
    expect(toBase62(0xffffffff, 6)).toBe('4gfFC3');
  });
});

describe('parseKey', () => {
  const valid = 'sk_test_0123456789ABCDEFGHIJabcdefghijKL33WMuh';

  it('reads kind, environment, prefix and last4 of a valid key', () => {
    expect(parseKey(valid)).toEqual({ type: 'SECRET', environment: 'TEST', prefix: 'sk_test_', last4: 'WMuh' });
    expect(parseKey('pk_live_Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0Pp42LwHA')).toMatchObject({ type: 'PUBLIC', environment: 'LIVE' });
  });

  it.each([
    ['a wrong checksum', 'sk_test_0123456789ABCDEFGHIJabcdefghijKL33WMui'],
    ['a checksum of another key', 'sk_test_0123456789ABCDEFGHIJabcdefghijKL42LwHA'],
    ['a body one character short', 'sk_test_0123456789ABCDEFGHIJabcdefghijK33WMuh'],
    ['a body one character long', 'sk_test_0123456789ABCDEFGHIJabcdefghijKLM33WMuh'],
    ['an unknown kind', 'xk_test_0123456789ABCDEFGHIJabcdefghijKL33WMuh'],
    ['an unknown environment', 'sk_prod_0123456789ABCDEFGHIJabcdefghijKL33WMuh'],
    ['upper-case prefix', 'SK_TEST_0123456789ABCDEFGHIJabcdefghijKL33WMuh'],
    ['a non-base62 character', 'sk_test_0123456789ABCDEFGHIJabcdefghij-L33WMuh'],
    ['surrounding whitespace', ` ${'sk_test_0123456789ABCDEFGHIJabcdefghijKL33WMuh'}`],
    ['the empty string', ''],
    ['a very long string', 'sk_test_'.padEnd(10_000, 'a')],
  ])('rejects %s', (_label, value) => {
    expect(parseKey(value)).toBeNull();
  });

  it('rejects what is not a string', () => {
    expect(parseKey(42 as unknown as string)).toBeNull();
    expect(parseKey(null as unknown as string)).toBeNull();
  });
});

describe('generateKey', () => {
  it.each(TYPES.flatMap((type) => ENVS.map((env) => [type, env] as const)))('%s %s round-trips through parseKey', (type, env) => {
    const value = generateKey(type, env);
    expect(value).toMatch(/^(sk|pk|tk)_(live|test)_[0-9A-Za-z]{38}$/);
    expect(parseKey(value)).toEqual({ type, environment: env, prefix: value.slice(0, 8), last4: value.slice(-4) });
  });

  it('draws a new body every time', () => {
    const values = new Set(Array.from({ length: 1_000 }, () => generateKey('SECRET', 'LIVE')));
    expect(values.size).toBe(1_000);
  });
});

describe('digestKey', () => {
  it('is the SHA-256 hex digest of the UTF-8 value', () => {
    const value = generateKey('SECRET', 'TEST');
    const expected = createHash('sha256').update(value).digest('hex');
    expect(digestKey(value)).toBe(expected);
    expect(digestKey(value)).toMatch(/^[0-9a-f]{64}$/);
    expect(digestKey(value)).not.toContain(value.slice(8, -6));
  });

  it('compares digests in constant time, and only equal ones match', () => {
    const a = digestKey(generateKey('SECRET', 'TEST'));
    const b = digestKey(generateKey('SECRET', 'TEST'));
    expect(sameDigest(a, a)).toBe(true);
    expect(sameDigest(a, b)).toBe(false);
    expect(sameDigest(a, a.slice(0, 62))).toBe(false);
  });
});

describe('properties', () => {
  const kind = fc.constantFrom(...TYPES);
  const env = fc.constantFrom(...ENVS);

  it('every generated key parses', () => {
    fc.assert(
      fc.property(kind, env, (type, environment) => {
        const parsed = parseKey(generateKey(type, environment));
        return parsed !== null && parsed.type === type && parsed.environment === environment;
      }),
      { numRuns: 500 },
    );
  });

  it('any single-character change is rejected', () => {
    const replacement = fc.oneof(
      fc.constantFrom(...BASE62),
      fc.constantFrom('_', '-', ' ', '/', '+', '=', 'é', '\u0000'),
      fc.string({ minLength: 1, maxLength: 1, unit: 'grapheme' }),
    );
    fc.assert(
      fc.property(kind, env, fc.nat(), replacement, (type, environment, at, char) => {
        const value = generateKey(type, environment);
        const index = at % value.length;
        fc.pre(value[index] !== char);
        const changed = value.slice(0, index) + char + value.slice(index + 1);
        return parseKey(changed) === null;
      }),
      { numRuns: 2_000 },
    );
  });
});
