import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateKey } from '../../src/keys/key-material.js';
import { assertNoSecretLeaked } from '../helpers/server.js';

/** The check every test server runs on stop must itself be able to fail. */
describe('the suite-wide secrets check', () => {
  const secret = generateKey('SECRET', 'TEST');
  const dir = mkdtempSync(join(tmpdir(), 'keyring-secret-audit-'));
  const db = join(dir, 'keyring.db');

  it('passes when the secret is nowhere', () => {
    writeFileSync(db, Buffer.from('nothing here'));
    expect(() => assertNoSecretLeaked(new Set([secret]), ['{"msg":"request"}'], db)).not.toThrow();
  });

  it('fails on a secret in a log line, the database file or its WAL, without printing it', () => {
    expect(() => assertNoSecretLeaked(new Set([secret]), [`{"key":"${secret}"}`], db)).toThrow(/logs/);
    writeFileSync(`${db}-wal`, Buffer.concat([Buffer.alloc(100), Buffer.from(secret), Buffer.alloc(100)]));
    let message = '';
    try {
      assertNoSecretLeaked(new Set([secret]), [], db);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('-wal');
    expect(message).not.toContain(secret);
    rmSync(dir, { recursive: true, force: true });
  });
});
