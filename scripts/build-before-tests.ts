import { execFileSync } from 'node:child_process';

/**
 * vitest global setup: compiles the workspace (incremental `tsc -b`) so that tests which run the real
 * `wbx` binary as a separate process (SIGTERM, kill -9) run the code under test, not a stale build.
 */
export default function setup(): void {
  execFileSync('pnpm', ['-s', 'build'], { cwd: new URL('..', import.meta.url).pathname, stdio: 'inherit' });
}
