import { generateKeyPairSync, sign } from 'node:crypto';
import { generateKey } from '../src/keys/key-material.js';
import { round, startChild, type BenchResult, type BenchSuite, type ChildServer } from './suite.js';

/**
 * Leak reports (issue 16): ten signed GitHub reports of 1,000 candidates each, posted at once,
 * must all be answered within 1 s. Each report holds 10 keys of ours (revoked by it), 490
 * well-formed keys of nobody (looked up by digest) and 500 strings that are no key at all.
 * Then the same ten again (ours already revoked: lookups only), and one report of 1,000 keys
 * that are all ours (1,000 revocations, 2,000 events in one transaction).
 */

const REPORTS = 10;
const CANDIDATES = 1_000;
const OURS_PER_REPORT = 10;
const TARGET_MS = 1_000;

interface LeakServerInfo {
  keys: string[];
}

function signer() {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    sign: (body: Buffer) => sign('sha256', body, { key: privateKey, dsaEncoding: 'der' }).toString('base64'),
  };
}

const item = (token: string) => ({ token, type: 'keyring_secret_key', url: 'https://github.com/acme/app/blob/main/.env', source: 'content' });

/** Posts every (pre-signed) body at once; the milliseconds until the last answer, the server's CPU time meanwhile, and the true positives counted. */
async function postAll(server: ChildServer<LeakServerInfo>, bodies: Array<{ body: Buffer; signature: string }>): Promise<{ ms: number; cpuMs: number; positives: number; statuses: number[] }> {
  const url = server.info.url;
  const cpuBefore = await server.cpuMicros();
  const started = performance.now();
  const answers = await Promise.all(
    bodies.map(async ({ body, signature }) => {
      const res = await fetch(`${url}/leaks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'github-public-key-identifier': 'bench', 'github-public-key-signature': signature },
        body,
      });
      return { status: res.status, json: (await res.json()) as Array<{ label: string }> };
    }),
  );
  const ms = performance.now() - started;
  const cpuMs = ((await server.cpuMicros()) - cpuBefore) / 1_000;
  const positives = answers.reduce((sum, answer) => sum + (Array.isArray(answer.json) ? answer.json.filter((v) => v.label === 'true_positive').length : 0), 0);
  return { ms, cpuMs, positives, statuses: answers.map((answer) => answer.status) };
}

const leaksSuite: BenchSuite = {
  name: 'leaks',
  order: 30,
  async run(context) {
    const github = signer();
    const server: ChildServer<LeakServerInfo> = await startChild<LeakServerInfo>('leaks', { publicPem: github.publicPem, keys: REPORTS * OURS_PER_REPORT + CANDIDATES }, 'leak-server.js');
    try {
      const ours = server.info.keys;
      const reports = Array.from({ length: REPORTS }, (_, r) => {
        const candidates = Array.from({ length: CANDIDATES }, (_, i) =>
          i % 100 === 0 ? ours[r * OURS_PER_REPORT + i / 100]! : i % 2 ? generateKey('SECRET', 'LIVE') : `not-a-key-${r}-${i}-${'x'.repeat(20)}`,
        );
        const body = Buffer.from(JSON.stringify(candidates.map(item)));
        return { body, signature: github.sign(body) };
      });
      const allOursBody = Buffer.from(JSON.stringify(ours.slice(REPORTS * OURS_PER_REPORT).map(item)));
      const allOurs = [{ body: allOursBody, signature: github.sign(allOursBody) }];

      const first = await postAll(server, reports);
      context.log(`10 × 1,000, first: ${round(first.ms)} ms (server CPU ${round(first.cpuMs)} ms), ${first.positives} true positives, statuses ${[...new Set(first.statuses)]}`);
      const again = await postAll(server, reports);
      context.log(`10 × 1,000, again: ${round(again.ms)} ms (server CPU ${round(again.cpuMs)} ms)`);
      const bulk = await postAll(server, allOurs);
      context.log(`1,000 of ours in one report: ${round(bulk.ms)} ms (server CPU ${round(bulk.cpuMs)} ms)`);
      const ok = (m: { statuses: number[] }) => m.statuses.every((status) => status === 200);
      const line = (name: string, m: Awaited<ReturnType<typeof postAll>>, expected: number, target: boolean): BenchResult => ({
        name,
        p99Ms: round(m.ms),
        ...(target
          ? {
              target: {
                ok: m.ms < TARGET_MS && ok(m) && m.positives === expected,
                description: `all answered within ${TARGET_MS} ms (${round(m.ms)} ms; server CPU ${round(m.cpuMs)} ms), every answer 200 with ${expected} true positives (${m.positives})`,
              },
            }
          : { note: `${round(m.ms)} ms for all answers (server CPU ${round(m.cpuMs)} ms); ${m.positives} true positives` }),
      });
      return [
        line(`leak reports: ${REPORTS} × ${CANDIDATES} candidates posted at once, ${REPORTS * OURS_PER_REPORT} of them ours (revoked)`, first, REPORTS * OURS_PER_REPORT, true),
        line(`leak reports: the same again (ours already revoked: lookups only)`, again, REPORTS * OURS_PER_REPORT, true),
        line(`leak reports: one report of ${CANDIDATES} keys, all ours (${CANDIDATES} revocations)`, bulk, CANDIDATES, false),
      ];
    } finally {
      await server.stop();
    }
  },
};

export default leaksSuite;
