import { describe, expect, it } from 'vitest';
import { eventLine, jsonLine, type FeedEvent } from '../../src/cli/event-line.js';

const event: FeedEvent = {
  id: '42',
  type: 'KEY_REVOKED',
  occurredAt: '2026-11-23T06:00:00.000Z',
  merchantId: 'acme',
  keyId: 'key_abc',
  actorKeyId: 'key_root',
  requestId: 'r1',
  operationName: 'RevokeKey',
  ip: '203.0.113.9',
  reason: 'lost laptop',
  metadata: null,
};

describe('keys tail lines', () => {
  it('names each field, in order, and leaves out the empty ones', () => {
    expect(eventLine(event)).toBe(
      '2026-11-23T06:00:00.000Z #42 KEY_REVOKED   merchant=acme key=key_abc actor=key_root op=RevokeKey reason="lost laptop" ip=203.0.113.9',
    );
    expect(eventLine({ ...event, type: 'AUTH_FAILED', keyId: null, actorKeyId: null, operationName: null, reason: 'MALFORMED' })).toBe(
      '2026-11-23T06:00:00.000Z #42 AUTH_FAILED   merchant=acme reason=MALFORMED ip=203.0.113.9',
    );
  });

  it('cannot be made to forge a line or send a terminal escape sequence', () => {
    const hostile = { ...event, reason: 'x\n2026-01-01T00:00:00.000Z #43 KEY_CREATED\u001b[2J\u009b31m\u2028', ip: 'a b' };
    for (const line of [eventLine(hostile), jsonLine(hostile)]) {
      expect(line).not.toMatch(/[\n\r\u001b\u009b\u2028]/);
      expect(line).toContain('\\u001b[2J\\u009b31m\\u2028');
    }
    expect(eventLine(hostile)).toContain('ip="a b"');
    expect(JSON.parse(jsonLine(hostile))).toEqual(hostile);
  });
});
