import { CloseCode as GraphQLWsCloseCode } from 'graphql-ws';
import { describe, expect, it } from 'vitest';
import { protocolModule } from '../../src/console/console.route.js';
import { CloseCode, compareIds, EVENT_ID_PATTERN, FATAL_CLOSE_CODES, isEventId } from '../../src/protocol.js';

describe('protocol', () => {
  it('takes graphql-ws’s close codes where it has them', () => {
    expect(CloseCode.Unauthorized).toBe(4401);
    expect(CloseCode.Forbidden).toBe(4403);
    expect(CloseCode.Unauthorized).toBe(GraphQLWsCloseCode.Unauthorized);
    expect(CloseCode.Forbidden).toBe(GraphQLWsCloseCode.Forbidden);
    expect(CloseCode.GoingAway).toBe(1001);
    expect(FATAL_CLOSE_CODES).toEqual(expect.arrayContaining([4401, 4403]));
    expect(FATAL_CLOSE_CODES).not.toContain(CloseCode.GoingAway);
  });

  it.each(['0', '1', '42', '9223372036854775807'])('%j is an event id', (id) => {
    expect(isEventId(id)).toBe(true);
  });

  it.each(['', '01', '-1', '1.5', ' 1', 'abc', '1'.repeat(20), null, 7])('%j is not an event id', (id) => {
    expect(isEventId(id)).toBe(false);
  });

  it('orders ids exactly past 2^53', () => {
    expect(compareIds('9007199254740993', '9007199254740992')).toBeGreaterThan(0);
    expect(compareIds('9', '10')).toBeLessThan(0);
    expect(compareIds('0', '1')).toBeLessThan(0);
    expect(compareIds('123', '123')).toBe(0);
  });

  it('gives the console the same constants, as a browser module', async () => {
    const served = await import(`data:text/javascript;base64,${Buffer.from(protocolModule()).toString('base64')}`);
    expect(served.CloseCode).toEqual({ ...CloseCode });
    expect(served.FATAL_CLOSE_CODES).toEqual([...FATAL_CLOSE_CODES]);
    expect(served.EVENT_ID_PATTERN.source).toBe(EVENT_ID_PATTERN.source);
    expect(served.compareIds('9007199254740993', '9007199254740992')).toBeGreaterThan(0);
    expect(served.compareIds('9', '10')).toBeLessThan(0);
    expect(served.compareIds('7', '7')).toBe(0);
  });
});
