// Loaded by the SQLite ledger's worker too, from TypeScript source with Node's own type stripping:
// it keeps to erasable syntax and imports nothing at run time.

/**
 * Credits one batch spent from a key: the sum spent in the latest refill period the batch names
 * (`period` null: the key has no refill). Spends of an earlier period do not matter to the stored
 * count: a refill has set it since.
 */
export interface CreditsSpent {
  period: number | null;
  spent: number;
}

/**
 * The stored credits after a batch's spends, as SQL on the row's current values (bound as
 * `creditsUpdateValues` gives them): spends of the stored period are subtracted; spends of a later one start it
 * from the refill amount; nothing goes below zero, and a key now unlimited stays so.
 */
export function creditsUpdateSql(dialect: 'sqlite' | 'postgresql'): string {
  const greatest = dialect === 'sqlite' ? 'max' : 'greatest';
  const p = dialect === 'sqlite' ? '?' : 'cast(? as int)';
  const q = (name: string) => (dialect === 'sqlite' ? `\`${name}\`` : `"${name}"`);
  const [remaining, period, amount] = [q('credits_remaining'), q('credit_period'), q('credit_refill_amount')];
  return (
    `${remaining} = case when ${remaining} is null then null ` +
    `when ${p} is null or ${period} = ${p} then ${greatest}(0, ${remaining} - ${p}) ` +
    `when ${period} is null or ${period} < ${p} then ${greatest}(0, coalesce(${amount}, ${remaining}) - ${p}) ` +
    `else ${remaining} end, ` +
    `${period} = case when ${remaining} is not null and ${p} is not null and (${period} is null or ${period} < ${p}) then ${p} else ${period} end`
  );
}

/** The values `creditsUpdateSql` binds, in order. */
export function creditsUpdateValues({ period, spent }: CreditsSpent): unknown[] {
  return [period, period, spent, period, spent, period, period, period];
}
