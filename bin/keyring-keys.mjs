#!/usr/bin/env node
// The keys CLI from any directory (`keyring-keys …`, or `npm run keys -- …` here): runs the built
// CLI in dist/, and builds it first only when dist/ is missing or older than src/ (once, not on
// every command), with the compiler's output on stderr so stdout stays the command's own.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const stamp = join(root, 'dist', '.keys-built');

/** The newest modification time of any file under `dir`. */
function newest(dir) {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return latest;
}

const built = existsSync(stamp) && existsSync(join(root, 'dist', 'src', 'cli', 'main.js')) ? statSync(stamp).mtimeMs : 0;
if (built < Math.max(newest(join(root, 'src')), statSync(join(root, 'package.json')).mtimeMs)) {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: ['ignore', 2, 2] });
  writeFileSync(stamp, `${new Date().toISOString()}\n`);
}

const { runCli } = await import(pathToFileURL(join(root, 'dist', 'src', 'cli', 'main.js')).href);
process.exitCode = await runCli(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
});
