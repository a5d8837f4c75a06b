import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** A new signing secret as Standard Webhooks writes it: `whsec_` and 32 random bytes in base64. */
export function generateSigningSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

const VERSION = 'v1';

/**
 * Signing secrets at rest: AES-256-GCM under a key that is not in the database (WEBHOOK_SECRET_KEY,
 * or a file of its own), with the endpoint's id as associated data, so a copy of the database
 * alone reveals no secret and a ciphertext moved to another row does not decrypt. The secret
 * must be recoverable to sign with, so it cannot be a digest like a key's.
 */
export class SecretBox {
  private key: Buffer | undefined;

  constructor(private readonly source: { key: Buffer | undefined; file: string }) {
    this.key = source.key;
  }

  seal(secret: string, webhookId: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.keyBytes(), iv);
    cipher.setAAD(Buffer.from(webhookId));
    const sealed = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `${VERSION}:${iv.toString('base64')}:${sealed.toString('base64')}`;
  }

  /** The secret, or throws when the ciphertext was not made with this key for this endpoint. */
  open(sealed: string, webhookId: string): string {
    const [version, iv, body] = sealed.split(':');
    if (version !== VERSION || !iv || !body) throw new Error('unreadable signing secret');
    const bytes = Buffer.from(body, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.keyBytes(), Buffer.from(iv, 'base64'));
    decipher.setAAD(Buffer.from(webhookId));
    decipher.setAuthTag(bytes.subarray(bytes.length - 16));
    try {
      return Buffer.concat([decipher.update(bytes.subarray(0, bytes.length - 16)), decipher.final()]).toString('utf8');
    } catch {
      throw new Error('the signing secret does not decrypt with this instance\'s WEBHOOK_SECRET_KEY (is it the same on every instance?)');
    }
  }

  /** The configured key, else the key file's, made (mode 0600) the first time it is needed. */
  private keyBytes(): Buffer {
    if (this.key) return this.key;
    const file = this.source.file;
    // Written whole under another name, then linked into place: an instance starting at the same
    // time either makes the file or reads a complete one, never a half-written key.
    const draft = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(draft, randomBytes(32).toString('base64'), { mode: 0o600, flag: 'wx' });
    try {
      linkSync(draft, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      unlinkSync(draft);
    }
    const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
    if (key.length !== 32) throw new Error(`${file} does not hold a 32-byte base64 key`);
    this.key = key;
    return key;
  }
}
