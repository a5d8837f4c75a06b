import 'reflect-metadata';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApolloServer, HeaderMap } from '@apollo/server';
import { BENCH_CLIENT_IP, benchConfig } from './bench-config.js';
import { SYSTEM_ACTOR } from '../src/auth/principal.js';
import { start } from '../src/server/app.js';
import type { CreditsRequest } from '../src/keys/credits.js';

/**
 * The servers the benchmark loads, each in a process of its own:
 *   raw     node:http answering a constant
 *   apollo  a bare Apollo Server answering `{ hello }` through node:http + executeHTTPGraphQLRequest
 *   keyring the service itself on a temp SQLite file, with keys minted through its service
 * The child sends `{ url, … }` over IPC when it listens and stops on `{ stop: true }`.
 */

type Started = { info: Record<string, unknown>; close(): Promise<void> };

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function raw(): Promise<Started> {
  const body = JSON.stringify({ data: { hello: 'world' } });
  const server = createServer({ keepAliveTimeout: 5_000 }, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  return { info: { url: await listen(server) }, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function apollo(): Promise<Started> {
  const apolloServer = new ApolloServer({
    typeDefs: 'type Query { hello: String }',
    resolvers: { Query: { hello: () => 'world' } },
    csrfPrevention: false,
  });
  await apolloServer.start();
  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    const text = await readBody(req);
    const headers = new HeaderMap();
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
    }
    const response = await apolloServer.executeHTTPGraphQLRequest({
      httpGraphQLRequest: { method: req.method ?? 'GET', headers, search: '', body: text ? JSON.parse(text) : undefined },
      context: async () => ({}),
    });
    for (const [name, value] of response.headers) res.setHeader(name, value);
    res.statusCode = response.status ?? 200;
    if (response.body.kind === 'complete') res.end(response.body.string);
    else {
      for await (const chunk of response.body.asyncIterator) res.write(chunk);
      res.end();
    }
  };
  const server = createServer({ keepAliveTimeout: 5_000 }, (req, res) => void handler(req, res));
  const url = await listen(server);
  return {
    info: { url },
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await apolloServer.stop();
    },
  };
}

interface KeyringOptions {
  keys?: number;
  /** Keys with exactly this limit per 60 s, for the "exactly N allowed" check. */
  exactLimit?: number;
  /** As many keys again, each with credits (far more than a run spends, refilled daily), for the credits case. */
  credits?: boolean;
}

async function keyring(options: KeyringOptions): Promise<Started> {
  const dir = mkdtempSync(join(tmpdir(), 'keyring-bench-'));
  const config = benchConfig(dir, 'info');
  // The production logger: a line per request on standard output (which the bench discards).
  const app = await start(config, { onAdminKey: () => {} });
  const { keys: service, authenticator } = app.services;
  const system = SYSTEM_ACTOR;
  const mint = async (name: string, scopes: string[], rateLimit: { limit: number; windowSeconds: number }, credits?: CreditsRequest, allowedIps?: string[]) =>
    (await service.create(system, { merchantId: 'bench', name, type: 'SECRET', scopes, rateLimit, credits, allowedIps })).secret;
  // Generous limits: the viewer and verifyKey cases measure speed, not refusals.
  const generous = { limit: 100_000, windowSeconds: 60 };
  const keys: string[] = [];
  for (let i = 0; i < (options.keys ?? 1_000); i++) keys.push(await mint(`bench ${i}`, [], generous));
  const verifier = await mint('bench verifier', ['keys:verify'], { limit: 100_000, windowSeconds: 1 });
  const exact = options.exactLimit ? await mint('bench exact', [], { limit: options.exactLimit, windowSeconds: 60 }) : null;
  const creditKeys: string[] = [];
  const plenty = { remaining: 1_000_000_000, refill: { amount: 1_000_000_000, interval: 'DAILY' } };
  // An allowlist of a realistic size (20 ranges, v4 and v6), the client's address in its last one.
  const allowlist = [...Array.from({ length: 10 }, (_, i) => `10.${i}.0.0/16`), ...Array.from({ length: 9 }, (_, i) => `2001:db8:${i}::/48`), '203.0.113.0/24'];
  if (options.credits) for (let i = 0; i < keys.length; i++) creditKeys.push(await mint(`bench credits ${i}`, [], generous, plenty, allowlist));
  // Seen once, as a live service would have seen them: the measured runs read no key from the database
  // (and the credit counter has met every key with credits).
  for (const key of [...keys, verifier, ...creditKeys]) await authenticator.check(key);
  for (const key of creditKeys) await app.services.verify.verify(SYSTEM_ACTOR, { key, cost: 0, clientIp: BENCH_CLIENT_IP });
  return {
    info: { url: app.url, keys, verifier, exact, creditKeys },
    close: async () => {
      await app.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const [kind = '', rawOptions = '{}'] = process.argv.slice(2);
const starters: Record<string, (options: any) => Promise<Started>> = { raw, apollo, keyring };
const starter = starters[kind];
if (!starter) throw new Error(`unknown bench server "${kind}"`);
const started = await starter(JSON.parse(rawOptions));
process.on('message', (message: { stop?: boolean; cpu?: boolean }) => {
  if (message?.cpu) {
    const { user, system } = process.cpuUsage();
    process.send!({ cpu: user + system });
  }
  if (message?.stop) void started.close().finally(() => process.exit(0));
});
process.send!(started.info);
