import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditEventEntity } from '../../src/audit/audit-event.entity.js';
import { createKey, startTestServer, type TestServer } from '../helpers/server.js';
import { CALLERS, makeCallers, OWN, REFUSED_CREDENTIALS, type Caller } from '../helpers/tenancy.js';

/**
 * Every query and mutation × every kind of caller, with the exact code and HTTP status of
 * each cell. `viewer` and `scopes` need any valid key and touch no merchant's resource, so
 * another merchant's key may call them; everything else is gated by its scope and tenancy.
 */
interface Operation {
  field: string;
  scope: 'keys:read' | 'keys:write' | null;
  /** Acts on OWN's keys, so OTHER's key is refused. */
  resource: boolean;
  document: string;
  /** Needs the id of a fresh OWN key (mutations consume theirs). */
  target?: boolean;
}

const OPERATIONS: Operation[] = [
  { field: 'viewer', scope: null, resource: false, document: 'query Matrix { viewer { keyId } }' },
  { field: 'scopes', scope: null, resource: false, document: 'query Matrix { scopes { name } }' },
  { field: 'apiKey', scope: 'keys:read', resource: true, target: true, document: 'query Matrix($id: ID!) { apiKey(id: $id) { id } }' },
  { field: 'apiKeys', scope: 'keys:read', resource: true, document: `query Matrix { apiKeys(merchantId: "${OWN}") { totalCount } }` },
  {
    field: 'createKey',
    scope: 'keys:write',
    resource: true,
    document: `mutation Matrix { createKey(input: { merchantId: "${OWN}", name: "matrix", type: SECRET, scopes: ["keys:read"] }) { key { id } } }`,
  },
  { field: 'updateKey', scope: 'keys:write', resource: true, target: true, document: 'mutation Matrix($id: ID!) { updateKey(id: $id, input: { name: "matrix-updated", metadata: { by: "matrix" } }) { id } }' },
  { field: 'disableKey', scope: 'keys:write', resource: true, target: true, document: 'mutation Matrix($id: ID!) { disableKey(id: $id) { id } }' },
  { field: 'enableKey', scope: 'keys:write', resource: true, target: true, document: 'mutation Matrix($id: ID!) { enableKey(id: $id) { id } }' },
  { field: 'revokeKey', scope: 'keys:write', resource: true, target: true, document: 'mutation Matrix($id: ID!) { revokeKey(id: $id) { id } }' },
  { field: 'rotateKey', scope: 'keys:write', resource: true, target: true, document: 'mutation Matrix($id: ID!) { rotateKey(id: $id) { key { id } } }' },
];

type Outcome = 'OK' | 'FORBIDDEN' | 'UNAUTHENTICATED';

function outcomeOf(operation: Operation, caller: Caller): Outcome {
  if (caller in REFUSED_CREDENTIALS) return 'UNAUTHENTICATED';
  if (caller === 'ownNoScope' && operation.scope) return 'FORBIDDEN';
  if (caller === 'other' && operation.resource) return 'FORBIDDEN';
  return 'OK';
}

const CELLS = OPERATIONS.flatMap((operation) =>
  CALLERS.map((caller) => ({ field: operation.field, caller, outcome: outcomeOf(operation, caller), operation })),
);

describe('tenancy and scope matrix', () => {
  let server: TestServer;
  let callers: Record<Caller, string | null>;
  const requestIdOf = (field: string, caller: string) => `matrix-${field}-${caller}`;

  beforeAll(async () => {
    // Each refused request's own AUTH_FAILED row is what this matrix reads: refusals are not folded here (§9.5 folding has its own test).
    server = await startTestServer({ env: { RATE_LIMIT: '100000', IP_RATE_LIMIT: '1000000', AUDIT_REFUSAL_WINDOW_SECONDS: '0' } });
    callers = await makeCallers(server);
  });
  afterAll(() => server?.stop());

  it.each(CELLS)('$field × $caller → $outcome', async ({ field, caller, outcome, operation }) => {
    const target = operation.target ? (await createKey(server, { merchantId: OWN, name: 'target', scopes: ['keys:read'] })).id : undefined;
    const result = await server.gql(operation.document, target ? { id: target } : {}, callers[caller], {
      'x-request-id': requestIdOf(field, caller),
    });
    const { body } = result;
    if (outcome === 'OK') {
      expect(body.errors).toBeUndefined();
      expect(result.status).toBe(200);
      expect((body.data as Record<string, unknown>)[field]).toBeTruthy();
      return;
    }
    expect(body.errors).toHaveLength(1);
    const [error] = body.errors!;
    if (outcome === 'FORBIDDEN') {
      expect(result.status).toBe(200);
      expect(error).toMatchObject({ message: 'This action is unauthorized.', extensions: { code: 'FORBIDDEN' } });
      expect((body.data as Record<string, unknown> | null)?.[field] ?? null).toBeNull();
    } else {
      expect(result.status).toBe(401);
      expect(error).toMatchObject({ message: 'Unauthenticated.', extensions: { code: 'UNAUTHENTICATED' } });
      expect(body.data).toBeUndefined();
    }
    expect(error!.extensions.requestId).toBe(requestIdOf(field, caller));
    if (target) {
      // a refused mutation changed nothing
      const after = await server.gql('query($id: ID!) { apiKey(id: $id) { status expired } }', { id: target });
      expect(after.body.data.apiKey).toEqual({ status: 'ACTIVE', expired: false });
    }
  });

  it('refused createKey calls created nothing', async () => {
    const listed = await server.gql(`{ apiKeys(merchantId: "${OWN}", first: 100) { edges { node { name createdById } } } }`);
    const made = listed.body.data.apiKeys.edges.filter((edge: any) => edge.node.name === 'matrix');
    expect(made).toHaveLength(CELLS.filter((cell) => cell.field === 'createKey' && cell.outcome === 'OK').length);
  });

  it('every refusal left AUTH_FAILED or ACCESS_DENIED in the ledger, every authenticated request KEY_USED', async () => {
    await server.app.services.ledger.flush();
    const rows = await server.app.services.db.fork().find(AuditEventEntity, { requestId: { $like: 'matrix-%' } });
    const byRequest = new Map<string, AuditEventEntity[]>();
    for (const row of rows) byRequest.set(row.requestId!, [...(byRequest.get(row.requestId!) ?? []), row]);
    for (const { field, caller, outcome } of CELLS) {
      const label = `${field} × ${caller}`;
      const events = byRequest.get(requestIdOf(field, caller)) ?? [];
      const types = events.map((event) => event.type).sort();
      if (outcome === 'UNAUTHENTICATED') {
        expect(types, label).toEqual(['AUTH_FAILED']);
        expect(events[0]!.reason, label).toBe(REFUSED_CREDENTIALS[caller]);
      } else if (outcome === 'FORBIDDEN') {
        expect(types, label).toEqual(['ACCESS_DENIED', 'KEY_USED']);
        const denied = events.find((event) => event.type === 'ACCESS_DENIED')!;
        expect(denied.reason, label).toBe(caller === 'other' ? 'another merchant' : 'missing scope');
        expect(denied.operationName, label).toBe('Matrix');
      } else {
        expect(types.filter((type) => type === 'KEY_USED'), label).toHaveLength(1);
        expect(types, label).not.toContain('ACCESS_DENIED');
        expect(types, label).not.toContain('AUTH_FAILED');
      }
    }
  });
});
