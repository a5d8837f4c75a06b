import { verify, type KeyObject } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SystemActor } from '../auth/principal.js';
import type { Config } from '../config.js';
import { PayloadTooLargeError } from '../errors.js';
import { leakDetailProblems, MAX_LEAK_CANDIDATES, type LeakCandidate, type LeakReports } from '../keys/leak-reports.js';
import type { Logger } from '../logger.js';
import { clientAddress } from './client-address.js';
import { readBodyBytes, sendJson } from './http.js';

/** /leaks has its own body limit (GitHub's reports are up to 1 MiB), not MAX_BODY_BYTES. */
export const LEAK_BODY_LIMIT = 1_048_576;
/** Reports read or handled at once; one more is answered 503 at once (memory stays within this × 1 MiB). */
const MAX_IN_FLIGHT = 16;
/** A DER ECDSA P-256 signature is at most 72 bytes (96 base64 characters). */
const SIGNATURE = /^[A-Za-z0-9+/]{1,200}={0,2}$/;
const IDENTIFIER_MAX = 256;
const TYPE_MAX = 100;

class Refusal {
  constructor(
    readonly status: number,
    readonly message: string,
  ) {}
}

/** Whether the body's signature (base64 DER, ECDSA P-256 over SHA-256, as GitHub sends it) verifies against one of the keys. */
export function signedByOneOf(keys: readonly KeyObject[], body: Buffer, signature: string): boolean {
  if (!SIGNATURE.test(signature)) return false;
  const bytes = Buffer.from(signature, 'base64');
  return keys.some((key) => {
    try {
      return verify('sha256', body, { key, dsaEncoding: 'der' }, bytes);
    } catch {
      return false;
    }
  });
}

/** GitHub's secret-scanning format: an array of {token, type, url, source}; a refusal (400, 413) when it is not one. */
function candidatesOf(body: Buffer): Array<LeakCandidate & { type: string }> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new Refusal(400, 'The request body is not valid JSON.');
  }
  if (!Array.isArray(parsed)) throw new Refusal(400, 'The request body must be a JSON array of {token, type, url, source}.');
  if (parsed.length > MAX_LEAK_CANDIDATES) throw new Refusal(413, `A report holds at most ${MAX_LEAK_CANDIDATES} items.`);
  return parsed.map((item: unknown, i) => {
    if (!item || typeof item !== 'object' || Array.isArray(item)) throw new Refusal(400, `Item ${i} must be an object.`);
    const { token, type, url, source } = item as Record<string, unknown>;
    if (typeof token !== 'string' || token === '') throw new Refusal(400, `Item ${i} must have a "token" string.`);
    if (typeof type !== 'string' || type.length > TYPE_MAX) throw new Refusal(400, `Item ${i} must have a "type" string of at most ${TYPE_MAX} characters.`);
    const problem = leakDetailProblems(url, source, `[${i}].`)[0];
    if (problem) throw new Refusal(400, `Item ${problem.message}`);
    return { token, type, url: (url as string | undefined) ?? null, source: (source as string | undefined) ?? null };
  });
}

function header(req: IncomingMessage, name: string): string | null {
  const value = req.headers[name];
  return typeof value === 'string' && value.length > 0 && value.length <= IDENTIFIER_MAX ? value : null;
}

/**
 * POST /leaks: GitHub's secret-scanning partner endpoint, on only when LEAK_REPORT_PUBLIC_KEYS
 * names keys (otherwise not this route's: 404). A request whose signature does not verify is
 * answered 401 before its body is even parsed; only a signed caller learns which values were
 * ours (`true_positive`). The values are hashed, never logged or recorded.
 */
export function leakRoute(config: Config, leaks: LeakReports, logger: Logger): (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean> {
  const keys = config.leakReportPublicKeys;
  let inFlight = 0;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') return sendJson(res, 405, { error: 'Use POST.' }, { allow: 'POST' });
    if (inFlight >= MAX_IN_FLIGHT) {
      // Its body is never read: the connection cannot carry another request.
      res.setHeader('connection', 'close');
      return sendJson(res, 503, { error: 'Too many reports at once; retry shortly.' }, { 'retry-after': '1' });
    }
    inFlight += 1;
    try {
      const body = await readBodyBytes(req, LEAK_BODY_LIMIT);
      const identifier = header(req, 'github-public-key-identifier');
      const signature = header(req, 'github-public-key-signature');
      if (!identifier || !signature || !signedByOneOf(keys, body, signature)) throw new Refusal(401, 'The report is not signed by a trusted key.');
      const candidates = candidatesOf(body);
      const actor: SystemActor = {
        kind: 'system',
        requestId: String(res.getHeader('x-request-id') ?? '') || null,
        ip: clientAddress(req, config.trustProxy),
        operationName: 'leaks',
      };
      const verdicts = await leaks.report(actor, candidates);
      sendJson(
        res,
        200,
        verdicts.map((verdict, i) => ({ token_hash: verdict.tokenHash, token_type: candidates[i]!.type, label: verdict.truePositive ? 'true_positive' : 'false_positive' })),
      );
    } catch (error) {
      if (error instanceof Refusal) return sendJson(res, error.status, { error: error.message });
      if (error instanceof PayloadTooLargeError) {
        res.setHeader('connection', 'close');
        return sendJson(res, 413, { error: `A report is at most ${LEAK_BODY_LIMIT} bytes.` });
      }
      logger.error({ err: error }, 'leak report failed');
      sendJson(res, 500, { error: 'Internal server error.' });
    } finally {
      inFlight -= 1;
    }
  }

  return (req, res) => {
    if (keys.length === 0 || (req.url ?? '/').split('?')[0] !== '/leaks') return false;
    return handle(req, res).then(() => true);
  };
}
