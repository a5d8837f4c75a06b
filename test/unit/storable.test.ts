import { describe, expect, it } from 'vitest';
import { storable, storableJson } from '../../src/audit/storable.js';

describe('storable text for the ledger', () => {
  it('replaces NUL and lone surrogates with U+FFFD and keeps everything else, pairs included', () => {
    expect(storable('a\u0000b')).toBe('a\uFFFDb');
    expect(storable('x\uD800y\uDC00')).toBe('x\uFFFDy\uFFFD');
    expect(storable('ok 😀 ünïcode\t\n')).toBe('ok 😀 ünïcode\t\n');
  });

  it('cleans names and values at any depth, and hands back the same object when nothing needed it', () => {
    const clean = { transport: 'websocket', scopes: ['keys:read'], nested: { n: 1, at: new Date(0) } };
    expect(storableJson(clean)).toBe(clean);
    const dirty = { 'k\u0000': 'v\uD800', list: ['ok', 'n\u0000'], nested: { deep: ['\uDC00'] }, n: 2, none: null };
    expect(storableJson(dirty)).toEqual({ 'k\uFFFD': 'v\uFFFD', list: ['ok', 'n\uFFFD'], nested: { deep: ['\uFFFD'] }, n: 2, none: null });
    // The caller's object is left as it was.
    expect(dirty.list[1]).toBe('n\u0000');
    expect(JSON.stringify(storableJson(dirty))).not.toMatch(/\\u0000|\\ud800|\\udc00/i);
  });
});
