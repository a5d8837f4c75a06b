import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';

/**
 * Builds dist/ once before the suites that run the real service as a child process
 * (npm start smoke, crash safety, graceful shutdown, CLI), and the console's modules, which every
 * test server serves. tsc is incremental, so this is quick.
 * A type error elsewhere in the tree does not stop the run (tsc still emits dist/, and
 * `npm run typecheck` is where type errors fail): it is reported here and the tests go on.
 */
export default function setup(): void {
  const require = createRequire(import.meta.url);
  const tsc = require.resolve('typescript/bin/tsc');
  // The console's browser modules are a program of their own (src/console/web), served from dist/console.
  for (const project of ['tsconfig.build.json', 'src/console/web']) {
    try {
      execFileSync(process.execPath, [tsc, '-p', project], { stdio: 'inherit' });
    } catch {
      process.stderr.write(`global-setup: tsc reported type errors in ${project} (above); dist/ was emitted anyway.\n`);
    }
  }
}
