import 'reflect-metadata';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchConfig } from './bench-config.js';
import { SYSTEM_ACTOR } from '../src/auth/principal.js';
import { start } from '../src/server/app.js';

/**
 * keyring for the leak-report benchmark, in a process of its own (bench/leaks.suite.ts starts
 * it through startChild): production mode on a temp SQLite file, `POST /leaks` on with the
 * suite's public key, `keys` SECRET keys minted through the keys service.
 * Sends `{ url, keys }` over IPC when it listens; stops on `{ stop: true }`.
 */

const options = JSON.parse(process.argv[3] ?? '{}') as { publicPem: string; keys: number };
const dir = mkdtempSync(join(tmpdir(), 'keyring-bench-leaks-'));
const app = await start(benchConfig(dir, 'info', { LEAK_REPORT_PUBLIC_KEYS: options.publicPem }), { onAdminKey: () => {} });
const keys: string[] = [];
for (let i = 0; i < options.keys; i++) {
  keys.push((await app.services.keys.create(SYSTEM_ACTOR, { merchantId: 'bench', name: `leak ${i}`, type: 'SECRET', scopes: [] })).secret);
}
process.on('message', (message: { stop?: boolean; cpu?: boolean }) => {
  if (message?.cpu) {
    const { user, system } = process.cpuUsage();
    process.send!({ cpu: user + system });
  }
  if (message?.stop) {
    void app
      .stop()
      .then(() => rmSync(dir, { recursive: true, force: true }))
      .finally(() => process.exit(0));
  }
});
process.send!({ url: app.url, keys });
