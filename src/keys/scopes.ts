/** The scope catalogue: the built-in scopes plus those configured for the merchants' own services. */
export interface ScopeDefinition {
  name: string;
  description: string;
  builtIn: boolean;
}

export const ADMIN_SCOPE = 'admin';

export const BUILT_IN_SCOPES: readonly ScopeDefinition[] = [
  { name: 'keys:read', description: 'Read API keys of the merchant.', builtIn: true },
  { name: 'keys:write', description: 'Create, disable, enable, revoke and rotate API keys of the merchant.', builtIn: true },
  { name: 'keys:verify', description: 'Verify presented API keys with verifyKey.', builtIn: true },
  { name: 'audit:read', description: "Read and subscribe to the merchant's audit events.", builtIn: true },
  { name: 'leaks:report', description: 'Report leaked key values with reportLeakedKeys; each one found is revoked.', builtIn: true },
  { name: 'webhooks:read', description: "List the merchant's webhook endpoints and their deliveries.", builtIn: true },
  { name: 'webhooks:write', description: "Create, update and delete the merchant's webhook endpoints.", builtIn: true },
  { name: ADMIN_SCOPE, description: 'Every scope, for every merchant.', builtIn: true },
];

export class ScopeCatalogue {
  private readonly byName = new Map<string, ScopeDefinition>();

  constructor(extra: ReadonlyArray<{ name: string; description: string }> = []) {
    for (const scope of BUILT_IN_SCOPES) this.byName.set(scope.name, scope);
    for (const scope of extra) {
      if (!this.byName.has(scope.name)) this.byName.set(scope.name, { ...scope, builtIn: false });
    }
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  list(): ScopeDefinition[] {
    return [...this.byName.values()];
  }
}

/** Whether a holder of `held` may act with `scope`: `admin` implies every scope. */
export function grants(held: ReadonlySet<string> | readonly string[], scope: string): boolean {
  const set = held instanceof Set ? held : new Set(held as readonly string[]);
  return set.has(ADMIN_SCOPE) || set.has(scope);
}
