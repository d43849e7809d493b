// `pnpm bench <name>`: builds, then runs bench/<name>.ts on Node (type stripping). bench/ is the workspace
// package @wbx/bench: it imports the other packages by name, which Node resolves to their built dist/.
// Each benchmark prints its figures and, as its last line, one JSON object.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

const root = new URL('..', import.meta.url).pathname;
const names = readdirSync(`${root}bench`)
  .filter((f) => f.endsWith('.ts') && !f.startsWith('_'))
  .map((f) => f.slice(0, -3));
const [name, ...args] = process.argv.slice(2);
if (name === undefined || !names.includes(name)) {
  console.error(`usage: pnpm bench <name> [args]   (one of: ${names.join(', ')})`);
  process.exit(2);
}
const build = spawnSync('pnpm', ['-s', 'build'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);
const file = `${root}bench/${name}.ts`;
if (!existsSync(file)) process.exit(2);
const run = spawnSync(process.execPath, [file, ...args], { cwd: root, stdio: 'inherit' });
process.exit(run.status ?? 1);
