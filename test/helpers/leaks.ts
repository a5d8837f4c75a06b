import { generateKeyPairSync, sign } from 'node:crypto';

/** A P-256 key pair standing in for GitHub's: its public key goes in LEAK_REPORT_PUBLIC_KEYS, its private key signs reports. */
export interface LeakSigner {
  publicPem: string;
  /** base64 of the DER ECDSA signature over SHA-256 of the body, as GitHub sends it. */
  sign(body: string | Buffer): string;
}

export function leakSigner(): LeakSigner {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    sign: (body) => sign('sha256', Buffer.from(body), { key: privateKey, dsaEncoding: 'der' }).toString('base64'),
  };
}

export interface LeakAnswer {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

/** POSTs a report to /leaks, signed by `signer` (unsigned when null). */
export async function postLeaks(baseUrl: string, body: string | Buffer, signer: LeakSigner | null, headers: Record<string, string> = {}): Promise<LeakAnswer> {
  const res = await fetch(`${baseUrl}/leaks`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(signer ? { 'github-public-key-identifier': 'test-key', 'github-public-key-signature': signer.sign(body) } : {}),
      ...headers,
    },
    body,
  });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** One candidate in GitHub's format. */
export function candidate(token: string, url = 'https://github.com/acme/app/blob/main/.env', source = 'content') {
  return { token, type: 'keyring_secret_key', url, source };
}
