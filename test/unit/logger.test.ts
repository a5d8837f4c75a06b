import { describe, expect, it } from 'vitest';
import { generateKey } from '../../src/keys/key-material.js';
import { redactKeys } from '../../src/logger.js';

describe('redactKeys', () => {
  it('replaces every key of every type and environment, wherever it sits in a line', () => {
    const live = generateKey('SECRET', 'LIVE');
    const test = generateKey('TOKENIZATION', 'TEST');
    const line = JSON.stringify({ msg: `got ${live}`, nested: { value: test }, other: `x=${live};` });
    const scrubbed = redactKeys(line);
    expect(scrubbed).not.toContain(live);
    expect(scrubbed).not.toContain(test);
    expect(scrubbed.match(/sk_live_\[REDACTED\]/g)).toHaveLength(2);
    expect(scrubbed).toContain('tk_test_[REDACTED]');
  });

  it('returns a line without keys as it is, prefixes included', () => {
    const line = '{"level":30,"msg":"request","prefix":"sk_live_","path":"/graphql"}';
    expect(redactKeys(line)).toBe(line);
  });
});
