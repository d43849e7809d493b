// `pnpm check` part: what Prettier cannot check on its own.
// - No trailing `// prettier-ignore`: an ignore exempts a whole statement (a function, a class) from
//   formatting; it is allowed only on a line of its own, before a data table.
// - No line of TypeScript longer than the print width, except where a string, a regular expression or a
//   URL cannot be broken.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const WIDTH = JSON.parse(readFileSync(new URL('../.prettierrc.json', import.meta.url), 'utf8')).printWidth;
const files = execFileSync(
  'git',
  ['ls-files', '--cached', '--others', '--exclude-standard', '*.ts', '*.mjs'],
  {
    encoding: 'utf8',
  },
)
  .split('\n')
  .filter((f) => f !== '' && !f.includes('/gen/') && !f.includes('node_modules/'));
const problems = [];
for (const file of files) {
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    continue; // deleted in the working tree
  }
  text.split('\n').forEach((line, i) => {
    const where = `${file}:${i + 1}`;
    if (/\S.*\/\/\s*prettier-ignore\s*$/.test(line)) problems.push(`${where}: trailing prettier-ignore`);
    if (line.length > WIDTH && !unbreakable(line))
      problems.push(`${where}: ${line.length} > ${WIDTH} columns`);
  });
}
/** A line that is long because of one string, template, regular expression or URL that cannot be broken. */
function unbreakable(line) {
  const rest = line
    .replace(/'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|`(?:[^`\\]|\\.)*`/g, "''")
    .replace(/\/(?:[^/\\\n]|\\.)+\/[dgimsuy]*/g, '//')
    .replace(/https?:\/\/\S+/g, '');
  return rest.length <= WIDTH;
}
if (problems.length > 0) {
  console.error(problems.join('\n'));
  console.error(`check-style: ${problems.length} problem(s)`);
  process.exit(1);
}
