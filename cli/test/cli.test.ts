import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { wbx } from '../src/run-captured.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wbx-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

describe('wbx generate', () => {
  it('writes exactly --count NDJSON events, byte-identical for identical arguments', async () => {
    const args = ['generate', '--partner', 'MK', '--count', '500', '--seed', 's1', '--from', '2024-03-01'];
    const a = await wbx(args);
    const b = await wbx(args);
    expect(a.code).toBe(0);
    expect(a.stdout.trimEnd().split('\n')).toHaveLength(500);
    expect(sha(a.stdout)).toBe(sha(b.stdout));
    const c = await wbx([...args.slice(0, -3), '--seed', 's2', '--from', '2024-03-01']);
    expect(sha(c.stdout)).not.toBe(sha(a.stdout));
  });

  it('writes to --out and the file validates', async () => {
    const out = join(dir, 'rs.ndjson');
    const g = await wbx(['generate', '--partner', 'RS', '--count', '300', '--seed', 'x', '--out', out]);
    expect(g.code).toBe(0);
    expect(g.stdout).toBe('');
    const v = await wbx(['validate', '--file', out]);
    expect(v.code).toBe(0);
    expect(v.stderr).toContain('300 events: 300 valid, 0 invalid');
  });

  it.each([
    [['--partner', 'ZZ'], '--partner'],
    [['--partner', 'MK', '--count', '0'], '--count'],
    [['--partner', 'MK', '--count', '1e3'], '--count'],
    [['--partner', 'MK', '--from', '2024-02-30'], '--from'],
    [['--partner', 'MK', '--from', '2024-05-01', '--to', '2024-04-01'], '--to must be after'],
    [['--partner', 'MK', '--from', '2024-06-01', '--to', '2024-06-03'], 'future'],
    [['--partner', 'MK', '--from', '2014-06-01'], '2015'],
  ])('refuses %j with a USAGE error naming the flag', async (flags, text) => {
    const r = await wbx(['generate', ...flags]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('USAGE');
    expect(r.stderr).toContain(text);
    expect(r.stdout).toBe('');
  });

  it('refuses a missing --partner', async () => {
    const r = await wbx(['generate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--partner');
  });
});

describe('wbx validate', () => {
  it('reports every invalid line with line number, path and code, and exits 1', async () => {
    const gen = await wbx(['generate', '--partner', 'AL', '--count', '3', '--seed', 'v']);
    const [first = '', second = '', third = ''] = gen.stdout.trimEnd().split('\n');
    const broken = JSON.parse(second) as Record<string, unknown>;
    broken.origin = 'XX';
    broken.fullName = 'not allowed';
    const input = [first, JSON.stringify(broken), '', '{"eventId": nope', third].join('\n');
    const r = await wbx(['validate'], { stdin: input });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('line 2: origin UNKNOWN_PARTNER');
    expect(r.stdout).toContain('line 2: fullName UNKNOWN_FIELD');
    expect(r.stdout).toContain('line 4: (line) INVALID_JSON');
    expect(r.stdout).not.toContain('line 1:');
    expect(r.stdout).not.toContain('line 5:');
    expect(r.stderr).toContain('4 events: 2 valid, 2 invalid');
  });

  it('reports violations as JSON lines with --json', async () => {
    const r = await wbx(['validate', '--json'], { stdin: '{"type":"crossing.irregular"}\n' });
    expect(r.code).toBe(1);
    const rows = r.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { line: number; path: string; code: string });
    expect(rows).toContainEqual(expect.objectContaining({ line: 1, path: 'eventId', code: 'REQUIRED' }));
    expect(rows).toContainEqual(
      expect.objectContaining({ line: 1, path: 'crossingIrregular', code: 'REQUIRED' }),
    );
  });

  it('exits 0 on an empty input and on blank lines only', async () => {
    expect((await wbx(['validate'], { stdin: '' })).code).toBe(0);
    expect((await wbx(['validate'], { stdin: '\n\n  \n' })).code).toBe(0);
  });

  it('reports a line over 1 MiB as TOO_LONG instead of reading it into memory', async () => {
    const file = join(dir, 'huge.ndjson');
    await writeFile(file, `{"a":"${'x'.repeat(2 * 1024 * 1024)}"}\n`);
    const r = await wbx(['validate', '--file', file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('line 1: (line) TOO_LONG');
  });

  it('refuses a file that does not exist with an IO error', async () => {
    const r = await wbx(['validate', '--file', join(dir, 'missing.ndjson')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/IO: cannot read .*missing\.ndjson/);
  });

  it('reads the file it was given, not stdin', async () => {
    const file = join(dir, 'one.ndjson');
    const gen = await wbx(['generate', '--partner', 'ME', '--count', '1', '--seed', 'f']);
    await writeFile(file, gen.stdout);
    const r = await wbx(['validate', '--file', file], { stdin: 'garbage\n' });
    expect(r.code).toBe(0);
    expect(await readFile(file, 'utf8')).toBe(gen.stdout);
  });
});

describe('wbx demo', () => {
  it('runs the whole federation on this machine: generate, validate, seal, ingest, share, revoke, audit', async () => {
    const r = await wbx(['demo'], { now: new Date() });
    expect(r.code).toBe(0);
    // a day of events for MK, RS and AL, validated
    expect(r.stdout).toMatch(/partner\s+generated\s+valid\s+invalid/);
    expect(r.stdout).toMatch(/^MK\s+600\s+600\s+0$/m);
    expect(r.stdout).toMatch(/^crossing\.irregular\s+GR-MK\s+\d+/m);
    for (const type of ['entry.refusal', 'stay.illegal', 'document.fraud']) {
      expect(r.stdout).toMatch(new RegExp(`^${type.replace('.', '\\.')}\\s+—(\\s+\\d+){4}$`, 'm'));
    }
    expect(r.stdout).toContain('Every event is valid.');
    // sealed, disclosed to RS, verified; tampering refused
    expect(r.stdout).toMatch(/Federation manifest v1: MK, RS, AL, threshold 2, signed by 3/);
    expect(r.stdout).toMatch(/600 verified against the manifest, 0 refused/);
    expect(r.stdout).toMatch(/^persons\[0\]\.subjectRef\s+"[0-9a-f]+…\s+— withheld$/m);
    expect(r.stdout).toContain('refused (BAD_SIGNATURE)');
    // four gateways; ingest over gRPC with duplicates recognised
    expect(r.stdout).toMatch(/^MK\s+600\s+600\s+0\s+50\s+600\s/m);
    expect(r.stdout).toMatch(/^RS\s+900\s+900\s+0\s+50\s+900\s/m);
    // shared under agreements
    expect(r.stdout).toMatch(/^RS\s+records\s+\d+\s+direction, migrantsCount/m);
    expect(r.stdout).toMatch(/^AL\s+aggregates\s+\d+\s+periods 2023-W35/m);
    expect(r.stdout).toMatch(/^FRONTEX\s+aggregates\s+\d+\s+periods 2023-09/m);
    // a correction and a withdrawal follow the records to RS
    expect(r.stdout).toMatch(
      /MK corrects crossing \S+ .*: RS's inbox holds the corrected record after \d+ ms/,
    );
    expect(r.stdout).toMatch(
      /MK withdraws crossing \S+ \(recorded-in-error\): gone from RS's inbox after \d+ ms/,
    );
    expect(r.stdout).toMatch(/RS's share stream purged after \d+ ms/);
    expect(r.stdout).toMatch(/RS's inbox stays at (\d+) \(had \1\)/);
    expect(r.stdout).toMatch(
      /MK's audit log: \d+ entries in an unbroken hash chain, [1-9]\d* signed checkpoints/,
    );
    // the analytics node on FRONTEX's inbox: the dashboard's address and headline figures
    expect(r.stdout).toMatch(
      /Analytics node on FRONTEX's WBX_INBOX: [1-9]\d* aggregates and records taken in, 0 refused/,
    );
    expect(r.stdout).toMatch(/^Dashboard: http:\/\/127\.0\.0\.1:\d+\/dashboard\/$/m);
    expect(r.stdout).toMatch(/^ {2}crossing\.irregular 2023-09 \(provisional\): (\d|[<≥])/m);
  }, 120_000);
});
