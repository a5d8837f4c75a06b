import { hash, randomInt } from 'node:crypto';
import { crc32 } from 'node:zlib';

/**
 * Key material, pure: generating, checksumming, parsing and digesting key strings.
 * Format: `<kind>_<env>_<body>` where body is 32 CSPRNG base62 characters followed by
 * the 6-character base62 CRC-32 of everything before it.
 */

export const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
export const RANDOM_LENGTH = 32;
export const CHECKSUM_LENGTH = 6;

export type KeyType = 'SECRET' | 'PUBLIC' | 'TOKENIZATION';
export type KeyEnvironment = 'LIVE' | 'TEST';

const KIND: Record<KeyType, string> = { SECRET: 'sk', PUBLIC: 'pk', TOKENIZATION: 'tk' };
const TYPE_OF_KIND: Record<string, KeyType> = { sk: 'SECRET', pk: 'PUBLIC', tk: 'TOKENIZATION' };
const ENV: Record<KeyEnvironment, string> = { LIVE: 'live', TEST: 'test' };
const ENV_OF: Record<string, KeyEnvironment> = { live: 'LIVE', test: 'TEST' };

const SHAPE = /^(sk|pk|tk)_(live|test)_([0-9A-Za-z]{38})$/;

/** Base62 of a non-negative integer, most significant digit first, left-padded with `0`. */
export function toBase62(value: number, width: number): string {
  let out = '';
  let rest = value;
  do {
    out = BASE62[rest % 62] + out;
    rest = Math.floor(rest / 62);
  } while (rest > 0);
  return out.padStart(width, '0');
}

/** CRC-32 (IEEE, as zlib's) of the UTF-8 bytes of `text`, as 6 base62 characters. */
export function checksum(text: string): string {
  return toBase62(crc32(text) >>> 0, CHECKSUM_LENGTH);
}

export function prefixOf(type: KeyType, environment: KeyEnvironment): string {
  return `${KIND[type]}_${ENV[environment]}_`;
}

/** A new key value: CSPRNG body (rejection-free `randomInt`, so every character is uniform) plus checksum. */
export function generateKey(type: KeyType, environment: KeyEnvironment): string {
  let random = '';
  for (let i = 0; i < RANDOM_LENGTH; i++) random += BASE62[randomInt(62)];
  const head = prefixOf(type, environment) + random;
  return head + checksum(head);
}

export interface ParsedKey {
  type: KeyType;
  environment: KeyEnvironment;
  prefix: string;
  last4: string;
}

/**
 * Parses a presented key. Returns null when its shape or checksum is wrong, so that a
 * malformed key is refused without a database read.
 */
export function parseKey(value: string): ParsedKey | null {
  if (typeof value !== 'string' || value.length > 64) return null;
  const match = SHAPE.exec(value);
  if (!match) return null;
  const head = value.slice(0, value.length - CHECKSUM_LENGTH);
  if (checksum(head) !== value.slice(-CHECKSUM_LENGTH)) return null;
  return {
    type: TYPE_OF_KIND[match[1]!]!,
    environment: ENV_OF[match[2]!]!,
    prefix: `${match[1]}_${match[2]}_`,
    last4: value.slice(-4),
  };
}

/** SHA-256 hex digest: the only form in which a secret key is ever stored. */
export function digestKey(value: string): string {
  return hash('sha256', value, 'hex');
}

/**
 * Constant-time comparison of two hex digests (of equal length: a length difference says
 * nothing secret). Every character is visited whatever differs, as timingSafeEqual would,
 * without decoding both to buffers on every request.
 */
export function sameDigest(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return difference === 0;
}

/** Opaque random identifier such as `key_3fZ…`. */
export function randomId(prefix: string, length = 24): string {
  let out = '';
  for (let i = 0; i < length; i++) out += BASE62[randomInt(62)];
  return `${prefix}_${out}`;
}
