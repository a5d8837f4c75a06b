import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';

/**
 * Builds dist/ once before the suites that run the real service as a child process
 * (npm start smoke, crash safety, graceful shutdown). tsc is incremental, so this is quick.
 */
export default function setup(): void {
  const require = createRequire(import.meta.url);
  const tsc = require.resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
}
