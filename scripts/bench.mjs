// `pnpm bench <name>`: builds, then runs bench/<name>.ts on Node (type stripping). bench/ is the workspace
// package @wbx/bench: it imports the other packages by name, which Node resolves to their built dist/.
// Each benchmark prints its figures and, as its last line, one JSON object.
// `pnpm bench all [--only a,b] [--skip a,b] [--note '…']`: builds once, then runs every benchmark one
// after the other (bench/_all.ts) and writes bench/results/<date>-<commit>.json.
// `pnpm bench table [results.json]`: rewrites the table of BENCHMARKS.md from a results file (the newest
// in bench/results/ if none is given), then formats BENCHMARKS.md with Prettier.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';

const root = new URL('..', import.meta.url).pathname;
const names = readdirSync(`${root}bench`)
  .filter((f) => f.endsWith('.ts') && !f.startsWith('_'))
  .map((f) => f.slice(0, -3));
const [name, ...args] = process.argv.slice(2);

if (name === 'table') {
  const { renderTable, replaceTable } = await import('../bench/_table.ts');
  const results = `${root}bench/results/`;
  const file =
    args[0] ??
    (existsSync(results)
      ? readdirSync(results)
          .filter((f) => f.endsWith('.json'))
          .sort()
          .map((f) => results + f)
          .at(-1)
      : undefined);
  if (file === undefined) {
    console.error('usage: pnpm bench table <bench/results/….json>');
    process.exit(2);
  }
  const doc = `${root}BENCHMARKS.md`;
  const table = renderTable(JSON.parse(readFileSync(file, 'utf8')));
  writeFileSync(doc, replaceTable(readFileSync(doc, 'utf8'), table));
  const fmt = spawnSync('pnpm', ['exec', 'prettier', '--write', '--log-level', 'warn', doc], {
    cwd: root,
    stdio: 'inherit',
  });
  console.log(`BENCHMARKS.md: table rendered from ${file}`);
  process.exit(fmt.status ?? 1);
}

if (name === undefined || (name !== 'all' && !names.includes(name))) {
  console.error(`usage: pnpm bench <name> [args] | all [--only a,b] [--skip a,b] | table [results.json]`);
  console.error(`  (name: one of ${names.join(', ')})`);
  process.exit(2);
}
const build = spawnSync('pnpm', ['-s', 'build'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);
const file = `${root}bench/${name === 'all' ? '_all' : name}.ts`;
if (!existsSync(file)) process.exit(2);
const run = spawnSync(process.execPath, [file, ...args], { cwd: root, stdio: 'inherit' });
process.exit(run.status ?? 1);
