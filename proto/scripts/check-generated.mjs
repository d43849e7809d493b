// Fails when src/gen is not exactly what `buf generate` makes from the .proto files now.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const out = mkdtempSync(join(tmpdir(), 'wbx-gen-'));
const template = readFileSync(join(root, 'buf.gen.yaml'), 'utf8')
  .replace('out: src/gen', `out: ${out}`)
  .replace('local: ./node_modules', `local: ${join(root, 'node_modules')}`);
const templateFile = join(out, '..', `${out.split('/').pop()}.buf.gen.yaml`);
writeFileSync(templateFile, template);

function list(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? list(p) : [p];
  });
}

try {
  execFileSync(join(root, 'node_modules/.bin/buf'), ['generate', '--template', templateFile], {
    cwd: root,
    stdio: 'inherit',
  });
  const fresh = new Map(list(out).map((p) => [relative(out, p), readFileSync(p, 'utf8')]));
  const committed = new Map(
    list(join(root, 'src/gen')).map((p) => [relative(join(root, 'src/gen'), p), readFileSync(p, 'utf8')]),
  );
  const stale = [...new Set([...fresh.keys(), ...committed.keys()])].filter(
    (f) => fresh.get(f) !== committed.get(f),
  );
  if (stale.length > 0) {
    console.error(`proto/src/gen is stale (run \`pnpm gen\`): ${stale.join(', ')}`);
    process.exit(1);
  }
  console.log(`proto/src/gen is up to date (${fresh.size} files)`);
} finally {
  rmSync(out, { recursive: true, force: true });
  rmSync(templateFile, { force: true });
}
