import type { Actor } from '../auth/principal.js';
import type { NewAuditEvent } from '../audit/event-types.js';
import { BadUserInputError, type InputProblem } from '../errors.js';
import { ApiKeyEntity } from './api-key.entity.js';
import type { KeyChange } from './key-change.js';
import { keyEvent } from './key-events.js';
import { digestKey, parseKey } from './key-material.js';
import { changeOf, disableEntity, revokeEntity } from './key-status.js';
import type { KeyTransaction } from './key-transaction.js';
import { freeTextProblems } from './validation.js';

/** Candidates in one report, from GitHub or from reportLeakedKeys. */
export const MAX_LEAK_CANDIDATES = 1_000;
/** Digests asked for in one query. */
const LOOKUP_BATCH = 1_000;
const URL_MAX = 2_048;
const SOURCE_MAX = 100;
/** The reason a leaked key is revoked (or disabled) with. */
export const LEAKED = 'leaked';

export type LeakedKeyAction = 'revoke' | 'disable';

/** One reported value and where it was found. The value is never stored, logged or recorded. */
export interface LeakCandidate {
  token: string;
  url?: string | null;
  source?: string | null;
}

export interface LeakVerdict {
  /** SHA-256 hex of the reported value: a stored key's digest when it names one. */
  tokenHash: string;
  /** The value names a SECRET or TOKENIZATION key of this service (revoked before or now). */
  truePositive: boolean;
}

/** Problems with where a leak was found (the url and source are recorded on KEY_LEAKED). */
export function leakDetailProblems(url: unknown, source: unknown, at = ''): InputProblem[] {
  const problems: InputProblem[] = [];
  for (const [name, value, max] of [['url', url, URL_MAX], ['source', source, SOURCE_MAX]] as const) {
    if (value == null) continue;
    if (typeof value !== 'string') problems.push({ field: `${at}${name}`, message: `${name} must be a string.` });
    else problems.push(...freeTextProblems(`${at}${name}`, value, max));
  }
  return problems;
}

/**
 * Leak reports: every reported value whose checksum holds and that names a SECRET or
 * TOKENIZATION key not revoked yet gets a KEY_LEAKED event and is revoked (or disabled) with
 * reason `leaked`, through the keys' one write path (KeyTransaction): caches and open sockets
 * hear of it on every instance before the report is answered. PUBLIC keys are meant to be
 * seen and are left alone. Lookups go by digest, a batch per query.
 */
export class LeakReports {
  constructor(
    private readonly transaction: KeyTransaction,
    private readonly action: LeakedKeyAction,
  ) {}

  /** reportLeakedKeys: the values, checked; answers how many were received, never which matched. */
  async receive(actor: Actor, keys: readonly string[], url: string | null | undefined, source: string | null | undefined): Promise<{ received: number }> {
    const problems = leakDetailProblems(url, source);
    if (keys.length > MAX_LEAK_CANDIDATES) problems.unshift({ field: 'keys', message: `keys must hold at most ${MAX_LEAK_CANDIDATES} values.` });
    if (problems.length > 0) throw new BadUserInputError(problems);
    await this.report(
      actor,
      keys.map((token) => ({ token, url, source })),
    );
    return { received: keys.length };
  }

  /** Acts on every candidate (already checked with leakDetailProblems) and says of each whether it is one of ours. */
  async report(actor: Actor, candidates: readonly LeakCandidate[]): Promise<LeakVerdict[]> {
    const verdicts = candidates.map((candidate) => ({ tokenHash: digestKey(candidate.token), truePositive: false }));
    // A value whose shape or checksum is wrong names no key: it is never looked up.
    const firstNaming = new Map<string, LeakCandidate>();
    candidates.forEach((candidate, i) => {
      const digest = verdicts[i]!.tokenHash;
      if (!firstNaming.has(digest) && parseKey(candidate.token)) firstNaming.set(digest, candidate);
    });
    const digests = [...firstNaming.keys()];
    const ours = new Set<string>();
    for (let from = 0; from < digests.length; from += LOOKUP_BATCH) {
      // Plain rows, not entities: nothing is hydrated into an identity map for values that are mostly noise.
      const rows: Array<Pick<ApiKeyEntity, 'id' | 'digest' | 'status' | 'statusReason'>> = await this.transaction
        .reader()
        .createQueryBuilder(ApiKeyEntity)
        .select(['id', 'digest', 'status', 'statusReason'])
        .where({ digest: { $in: digests.slice(from, from + LOOKUP_BATCH) }, type: { $in: ['SECRET', 'TOKENIZATION'] } })
        .execute('all');
      for (const row of rows) ours.add(row.digest);
      const due = rows.filter((row) => this.due(row)).map((row) => row.id);
      if (due.length > 0) await this.act(actor, due, firstNaming);
    }
    for (const verdict of verdicts) verdict.truePositive = ours.has(verdict.tokenHash);
    return verdicts;
  }

  /** Whether a report still changes the key: not revoked, and (when leaks disable) not disabled for a leak already. */
  private due(entity: Pick<ApiKeyEntity, 'status' | 'statusReason'>): boolean {
    if (entity.status === 'REVOKED') return false;
    return this.action === 'revoke' || entity.status !== 'DISABLED' || entity.statusReason !== LEAKED;
  }

  /** Revokes (or disables) the keys in one transaction, each with KEY_LEAKED; read again inside it, so a concurrent report acts once. */
  private async act(actor: Actor, ids: readonly string[], firstNaming: ReadonlyMap<string, LeakCandidate>): Promise<void> {
    await this.transaction.commitWithEvents(async (em) => {
      const entities = await em.find(ApiKeyEntity, { id: { $in: [...ids] } });
      const now = new Date();
      const events: NewAuditEvent[] = [];
      const changed: KeyChange[] = [];
      for (const entity of entities) {
        if (!this.due(entity)) continue;
        const found = firstNaming.get(entity.digest);
        events.push(keyEvent('KEY_LEAKED', actor, entity, { reason: LEAKED, metadata: { source: found?.source ?? null, url: found?.url ?? null } }));
        if (this.action === 'revoke') {
          revokeEntity(entity, now, LEAKED);
          events.push(keyEvent('KEY_REVOKED', actor, entity, { reason: LEAKED }));
        } else if (disableEntity(entity, now, LEAKED)) {
          events.push(keyEvent('KEY_DISABLED', actor, entity, { reason: LEAKED }));
        } else {
          // Disabled before for another reason: it stays disabled, now because it leaked.
          entity.statusReason = LEAKED;
          entity.updatedAt = now;
        }
        changed.push(changeOf(entity));
      }
      return { result: undefined, events, changed };
    });
  }
}
