import type { KeyEnvironment, KeyType } from '../keys/key-material.js';
import { ADMIN_SCOPE } from '../keys/scopes.js';

/** What bounds a key: where it works, how fast, and until when. */
export interface KeyBounds {
  readonly environment: KeyEnvironment;
  readonly rateLimit: number;
  readonly rateWindowSeconds: number;
  readonly expiresAt: Date | null;
}

/** A bound of the minting key that a new key would exceed. */
export type MintingBound = 'environment' | 'rateLimit' | 'expiresAt';

/**
 * Which of the minting key's bounds the new key would exceed (CONTRACT §9.5); empty when it
 * stays within them. A TEST key mints TEST keys only; the new key's window is the same or
 * longer and it allows no more requests per second; it expires no later than the minter.
 */
export function exceededBounds(minter: KeyBounds, minted: KeyBounds): MintingBound[] {
  const exceeded: MintingBound[] = [];
  if (minter.environment === 'TEST' && minted.environment !== 'TEST') exceeded.push('environment');
  // Requests per second compared as cross products: integers, no rounding.
  const faster = minted.rateLimit * minter.rateWindowSeconds > minter.rateLimit * minted.rateWindowSeconds;
  if (minted.rateWindowSeconds < minter.rateWindowSeconds || faster) exceeded.push('rateLimit');
  if (minter.expiresAt && (!minted.expiresAt || minted.expiresAt.getTime() > minter.expiresAt.getTime())) exceeded.push('expiresAt');
  return exceeded;
}

/** Scopes that give a key power over keys, events or the service: never for keys that live in client code. */
function isServerOnlyScope(scope: string): boolean {
  return (
    scope === ADMIN_SCOPE || scope === 'audit:read' || scope === 'leaks:report' || scope.startsWith('keys:') || scope.startsWith('webhooks:')
  );
}

/**
 * PUBLIC and TOKENIZATION keys sit in client code, so they never hold `keys:*`, `audit:read`,
 * `webhooks:*`, `leaks:report` or `admin`, whoever mints them (CONTRACT §9.5). Problems as
 * input errors (BAD_USER_INPUT), empty for a SECRET key.
 */
export function clientKeyScopeProblems(type: KeyType, scopes: readonly string[]): string[] {
  if (type === 'SECRET') return [];
  const refused = scopes.filter(isServerOnlyScope);
  return refused.length > 0 ? [`A ${type} key lives in client code and cannot hold ${refused.join(', ')}.`] : [];
}
