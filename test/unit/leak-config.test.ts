import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { signedByOneOf } from '../../src/server/leak-route.js';
import { leakSigner } from '../helpers/leaks.js';

const pem = (type: 'ec' | 'rsa', namedCurve = 'P-256') =>
  (type === 'ec' ? generateKeyPairSync('ec', { namedCurve }) : generateKeyPairSync('rsa', { modulusLength: 2048 })).publicKey
    .export({ type: 'spki', format: 'pem' })
    .toString();

describe('LEAK_REPORT_PUBLIC_KEYS and LEAKED_KEY_ACTION', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyring-leak-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const load = (env: Record<string, string>) => loadConfig({ NODE_ENV: 'test', ...env });

  it('is off by default, revoking when on', () => {
    const config = load({});
    expect(config.leakReportPublicKeys).toEqual([]);
    expect(config.leakedKeyAction).toBe('revoke');
    expect(config.keyExpiryNoticeSeconds).toBe(604_800);
  });

  it('takes PEM text (literal \\n included) or files, several keys each, and verifies against any of them', () => {
    const first = leakSigner();
    const second = leakSigner();
    const text = load({ LEAK_REPORT_PUBLIC_KEYS: `${first.publicPem}${second.publicPem}`.replaceAll('\n', '\\n') });
    expect(text.leakReportPublicKeys).toHaveLength(2);
    writeFileSync(join(dir, 'a.pem'), first.publicPem);
    writeFileSync(join(dir, 'b.pem'), second.publicPem);
    const files = load({ LEAK_REPORT_PUBLIC_KEYS: `${join(dir, 'a.pem')}, ${join(dir, 'b.pem')}`, LEAKED_KEY_ACTION: 'disable' });
    expect(files.leakReportPublicKeys).toHaveLength(2);
    expect(files.leakedKeyAction).toBe('disable');
    const body = Buffer.from('[]');
    expect(signedByOneOf(files.leakReportPublicKeys, body, second.sign(body))).toBe(true);
    expect(signedByOneOf(files.leakReportPublicKeys, body, leakSigner().sign(body))).toBe(false);
    expect(signedByOneOf(files.leakReportPublicKeys, Buffer.from('[ ]'), second.sign(body))).toBe(false);
    expect(signedByOneOf(files.leakReportPublicKeys, body, 'AAAA')).toBe(false);
  });

  it.each([
    ['PEM text without a public key', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----', /must be PEM text or files/],
    ['a missing file', '/nonexistent/github.pem', /cannot be read: \/nonexistent\/github.pem \(ENOENT\)/],
    ['an RSA key', pem('rsa'), /key 1 must be an ECDSA P-256 public key/],
    ['a P-384 key', pem('ec', 'P-384'), /key 1 must be an ECDSA P-256 public key/],
    ['a broken PEM block', '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----', /key 1 is not a valid PEM public key/],
    ['eleven keys', Array.from({ length: 11 }, () => pem('ec')).join(''), /names 11 keys; at most 10/],
  ])('refuses %s at start, naming the variable', (_name, value, message) => {
    expect(() => load({ LEAK_REPORT_PUBLIC_KEYS: value })).toThrow(/LEAK_REPORT_PUBLIC_KEYS/);
    expect(() => load({ LEAK_REPORT_PUBLIC_KEYS: value })).toThrow(message);
  });

  it('refuses an unknown LEAKED_KEY_ACTION and a notice period out of range', () => {
    expect(() => load({ LEAKED_KEY_ACTION: 'delete' })).toThrow(/LEAKED_KEY_ACTION must be revoke or disable/);
    expect(() => load({ KEY_EXPIRY_NOTICE_SECONDS: '-1' })).toThrow(/KEY_EXPIRY_NOTICE_SECONDS/);
  });
});
