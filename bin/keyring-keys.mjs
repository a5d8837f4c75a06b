#!/usr/bin/env node
// The keys CLI from any directory (`keyring-keys …`, or `npm run keys -- …` here): runs the built
// CLI in dist/, and builds it first only when dist/ is missing or older than src/ (once, not on
// every command), with the compiler's output on stderr so stdout stays the command's own.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createRequire, enableCompileCache } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
// Node keeps the compiled code of the modules a command loads (the ORM's, the database driver's)
// in its compile cache (in the temporary directory), so later commands skip compiling them again.
enableCompileCache();
const stamp = join(root, 'dist', '.keys-built');

/** The newest modification time of any TypeScript file under `dir` (what the build compiles). */
function newest(dir) {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) latest = Math.max(latest, newest(path));
    else if (entry.name.endsWith('.ts')) latest = Math.max(latest, statSync(path).mtimeMs);
  }
  return latest;
}

/** When dist/ was last built: by this script (its stamp) or by `npm run build` (tsc's build info). */
function builtAt() {
  if (!existsSync(join(root, 'dist', 'src', 'cli', 'main.js'))) return 0;
  return Math.max(...[stamp, join(root, 'dist', '.tsbuildinfo')].map((file) => (existsSync(file) ? statSync(file).mtimeMs : 0)));
}

if (builtAt() < newest(join(root, 'src'))) {
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
