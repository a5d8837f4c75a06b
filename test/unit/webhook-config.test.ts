import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { SecretBox } from '../../src/webhooks/webhook-secret.js';

describe('webhook settings', () => {
  it('defaults as the contract says; a bad value stops the start naming its variable, never echoing a secret', () => {
    const hooks = loadConfig({ DATABASE_URL: 'sqlite:/tmp/x/keyring.db' }).webhooks;
    expect(hooks).toMatchObject({ allowHttp: false, allowPrivate: false, maxConcurrent: 1, disableAfterMs: 86_400_000, timeoutMs: 10_000, secretKeyFile: '/tmp/x/webhook-secret.key' });
    expect(hooks.retryScheduleMs).toEqual([5_000, 30_000, 120_000, 600_000, 3_600_000]);
    expect(() => loadConfig({ WEBHOOK_RETRY_SCHEDULE: '5000,soon' })).toThrow(/WEBHOOK_RETRY_SCHEDULE/);
    expect(() => loadConfig({ WEBHOOK_SECRET_KEY: 'c2hvcnQ=' })).toThrow(/WEBHOOK_SECRET_KEY must be 32 bytes/);
    expect(() => loadConfig({ WEBHOOK_SECRET_KEY: 'c2hvcnQ=' })).not.toThrow(/c2hvcnQ/);
    expect(() => loadConfig({ WEBHOOK_POLL_MS: '1000', WEBHOOK_LEASE_MS: '2000' })).toThrow(/WEBHOOK_POLL_MS/);
  });

  it('a sealed secret opens with the same key and endpoint only', () => {
    const key = Buffer.alloc(32, 7);
    const box = new SecretBox({ key, file: '/nonexistent' });
    const sealed = box.seal('whsec_abc', 'wh_1');
    expect(sealed).not.toContain('abc');
    expect(box.open(sealed, 'wh_1')).toBe('whsec_abc');
    expect(() => box.open(sealed, 'wh_2')).toThrow(/does not decrypt/);
    expect(() => new SecretBox({ key: Buffer.alloc(32, 8), file: '/nonexistent' }).open(sealed, 'wh_1')).toThrow(/does not decrypt/);
  });
});
