import { execFileSync } from 'node:child_process';

/**
 * vitest global setup: compiles the workspace (incremental `tsc -b`) so that tests which run the real
 * `wbx` binary as a separate process (SIGTERM, kill -9) run the code under test, not a stale build.
 */
export default function setup(): void {
  // WBX_SKIP_BUILD=1: a run of tests that start no `wbx` process (the caller vouches for it).
  if (process.env.WBX_SKIP_BUILD === '1') return;
  execFileSync('pnpm', ['-s', 'build'], { cwd: new URL('..', import.meta.url).pathname, stdio: 'inherit' });
}
