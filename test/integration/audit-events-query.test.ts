import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKey, startTestServer, type TestServer } from '../helpers/server.js';

const EVENTS = /* GraphQL */ `
  query Events($filter: AuditEventFilter, $first: Int, $after: String, $order: AuditEventOrder) {
    auditEvents(filter: $filter, first: $first, after: $after, order: $order) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { cursor node { id type merchantId keyId actorKeyId requestId operationName ip reason metadata occurredAt } }
    }
  }
`;

// Every query leaves a KEY_USED of its own, so comparisons between queries use a set that reading does not grow.
const LIFECYCLE = { types: ['KEY_CREATED', 'KEY_DISABLED', 'KEY_ENABLED', 'KEY_REVOKED', 'KEY_ROTATED', 'KEY_EXPIRED'] };

type Node = { id: string; type: string; merchantId: string | null; keyId: string | null; occurredAt: string; [field: string]: unknown };

describe('auditEvents query', () => {
  let server: TestServer;
  let a: { id: string; secret: string };
  let b: { id: string; secret: string };
  let target: { id: string; secret: string };

  const query = async (variables: Record<string, unknown>, key = server.adminKey) => server.gql(EVENTS, variables, key);
  const nodes = async (variables: Record<string, unknown>, key = server.adminKey): Promise<Node[]> => {
    const result = await query(variables, key);
    if (!result.body.data) throw new Error(JSON.stringify(result.body.errors));
    return result.body.data.auditEvents.edges.map((edge: { node: Node }) => edge.node);
  };
  const ids = (list: Node[]) => list.map((node) => BigInt(node.id));

  beforeAll(async () => {
    server = await startTestServer({ env: { RATE_LIMIT: '1000' } });
    a = await createKey(server, { merchantId: 'm_qa', scopes: ['audit:read', 'keys:write'] });
    b = await createKey(server, { merchantId: 'm_qb', scopes: ['audit:read', 'keys:write'] });
    target = await createKey(server, { merchantId: 'm_qa', name: 'target' }, a.secret);
    for (const reason of ['one', 'two', 'three']) {
      await server.gql('mutation($id: ID!, $r: String) { disableKey(id: $id, reason: $r) { status } }', { id: target.id, r: reason }, a.secret);
      await server.gql('mutation($id: ID!) { enableKey(id: $id) { status } }', { id: target.id }, a.secret);
    }
    await server.gql('{ viewer { keyId } }', {}, b.secret);
    await server.app.services.ledger.flush();
  });
  afterAll(() => server?.stop());

  it('lists newest first by default and oldest first with order: ASC', async () => {
    const desc = await nodes({ first: 100, filter: LIFECYCLE });
    expect(desc.length).toBeGreaterThan(8);
    expect(ids(desc)).toEqual([...ids(desc)].sort((x, y) => (x > y ? -1 : 1)));
    const everything = await nodes({ first: 100 });
    expect(ids(everything)).toEqual([...ids(everything)].sort((x, y) => (x > y ? -1 : 1)));
    const asc = await nodes({ first: 100, order: 'ASC', filter: LIFECYCLE });
    expect(asc.map((n) => n.id)).toEqual([...desc].reverse().map((n) => n.id));
    expect(asc[0]).toMatchObject({ type: 'KEY_CREATED', merchantId: 'platform' });
  });

  it('pages with first/after: no overlap, no gap, totalCount over the whole filter', async () => {
    for (const order of ['DESC', 'ASC']) {
      const all = await nodes({ first: 100, order, filter: LIFECYCLE });
      const walked: string[] = [];
      let after: string | null = null;
      for (let page = 0; page < 50; page++) {
        const result = await query({ first: 3, after, order, filter: LIFECYCLE });
        const connection = result.body.data.auditEvents;
        expect(connection.totalCount).toBe(all.length);
        walked.push(...connection.edges.map((edge: { cursor: string; node: Node }) => {
          expect(edge.cursor).toBe(edge.node.id);
          return edge.node.id;
        }));
        if (!connection.pageInfo.hasNextPage) break;
        after = connection.pageInfo.endCursor;
      }
      expect(walked).toEqual(all.map((n) => n.id));
    }
  });

  it('filters by types, key, merchant and time range', async () => {
    const disabled = await nodes({ filter: { types: ['KEY_DISABLED'] } });
    expect(disabled.map((n) => n.reason)).toEqual(['three', 'two', 'one']);
    const both = await nodes({ filter: { types: ['KEY_DISABLED', 'KEY_ENABLED'], keyId: target.id }, order: 'ASC' });
    expect(both.map((n) => n.type)).toEqual(['KEY_DISABLED', 'KEY_ENABLED', 'KEY_DISABLED', 'KEY_ENABLED', 'KEY_DISABLED', 'KEY_ENABLED']);
    const ofB = await nodes({ filter: { merchantId: 'm_qb' } });
    expect(ofB.length).toBeGreaterThan(0);
    expect(ofB.every((n) => n.merchantId === 'm_qb')).toBe(true);
    expect(ofB.map((n) => n.type)).toContain('KEY_USED');

    const ordered = await nodes({ first: 100, order: 'ASC' });
    const from = ordered[3]!.occurredAt;
    const to = ordered.at(-3)!.occurredAt;
    const ranged = await nodes({ first: 100, order: 'ASC', filter: { from, to } });
    const expected = ordered.filter((n) => n.occurredAt >= from && n.occurredAt < to);
    expect(ranged.map((n) => n.id)).toEqual(expected.map((n) => n.id));
    expect(ranged.length).toBeGreaterThan(0);
  });

  it("confines a non-admin key to its own merchant, whatever the filter", async () => {
    const own = await nodes({ first: 100 }, a.secret);
    expect(own.length).toBeGreaterThan(0);
    expect(own.every((n) => n.merchantId === 'm_qa')).toBe(true);
    expect(own.map((n) => n.type)).toContain('KEY_USED');
    // Another merchant's key id simply matches nothing of its own merchant.
    expect(await nodes({ filter: { keyId: b.id } }, a.secret)).toEqual([]);
    const other = await query({ filter: { merchantId: 'm_qb' } }, a.secret);
    expect(other.body.errors?.[0]).toMatchObject({ message: 'This action is unauthorized.', extensions: { code: 'FORBIDDEN' } });
    const lifecycle = await nodes({ filter: LIFECYCLE }, a.secret);
    expect(await nodes({ filter: { ...LIFECYCLE, merchantId: 'm_qa' } }, a.secret)).toEqual(lifecycle);
    expect(lifecycle.length).toBe(8);
  });

  it('refuses keys without audit:read, and bad cursors, sizes and ranges', async () => {
    const reader = await createKey(server, { merchantId: 'm_qa', scopes: ['keys:read'] });
    expect((await query({}, reader.secret)).body.errors?.[0]?.extensions.code).toBe('FORBIDDEN');
    for (const variables of [{ after: 'abc' }, { after: '-1' }, { first: 101 }, { first: -1 }, { filter: { from: '2026-01-02T00:00:00Z', to: '2026-01-01T00:00:00Z' } }]) {
      const result = await query(variables);
      expect(result.body.errors?.[0]?.extensions.code, JSON.stringify(variables)).toBe('BAD_USER_INPUT');
    }
  });
});
