import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { wbx as runWbx, type CliRun } from '../src/run-captured.js';
import { makeIdentity, type Identity } from '@wbx/test-helpers';

/** `wbx …` in-process, on the clock the identity's keys are valid at (NOW) unless told otherwise. */
const wbx = (argv: string[], options: { now?: Date } = {}): Promise<CliRun> =>
  runWbx(argv, { now: options.now ?? NOW });

/** The identity's keys are valid from an hour ago: the CLI clock runs on real time. */
const NOW = new Date();
const iso = (offsetDays: number): string => new Date(NOW.getTime() + offsetDays * 86_400_000).toISOString();

let dir: string;
let id: Identity;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wbx-agreement-cli-'));
  id = await makeIdentity(dir, ['MK', 'RS', 'AL']);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const TERMS = (validFrom = iso(-1)): string => `# MK shares crossings with RS
id: MK-RS-2026-001
provider: MK
recipient: RS
purposes: [border-management, risk-analysis]
legalBasis: Protocol on police and border cooperation, Art. 7
validFrom: ${validFrom}
validUntil: ${iso(365)}
terms:
  - types: [crossing.irregular]
    mode: records
    fields: [occurredAt, routeSegment, persons.citizenship]
    where:
      routeSegment: [GR-MK]
    retentionDays: 90
  - types: [asylum.application]
    mode: aggregate
    dimensions: [person.citizenship]
    period: month
    retentionDays: 365
`;

/** Runs wbx and fails with its stderr if it did not exit 0. */
async function ok(argv: string[], now = NOW): Promise<string> {
  const r = await wbx(argv, { now });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r.stdout;
}

/** A drafted agreement file from TERMS (or `terms`) in a fresh subdirectory. */
async function draft(name: string, terms = TERMS()): Promise<string> {
  const termsFile = join(dir, `${name}.yaml`);
  const file = join(dir, `${name}.json`);
  await writeFile(termsFile, terms);
  await ok(['agreement', 'draft', '--file', termsFile, '--out', file]);
  return file;
}

const sign = (file: string, party: string): Promise<string> =>
  ok(['agreement', 'sign', '--agreement', file, '--key', id.keyFile(party)]);
const verify = (file: string, ...extra: string[]): Promise<CliRun> =>
  wbx(['agreement', 'verify', '--agreement', file, '--manifest', id.manifestFile, ...extra]);

describe('wbx agreement draft', () => {
  it('writes an unsigned agreement from a terms file', async () => {
    const file = await draft('draft-ok');
    const signed = JSON.parse(await readFile(file, 'utf8')) as { payload: string; signatures: unknown[] };
    expect(signed.signatures).toEqual([]);
    const body = JSON.parse(Buffer.from(signed.payload, 'base64url').toString()) as Record<string, unknown>;
    expect(body).toMatchObject({ id: 'MK-RS-2026-001', provider: 'MK', recipient: 'RS' });
    expect((body.terms as Record<string, unknown>[])[1]).toMatchObject({ minCell: 5 });
  });

  it('reports every error of a malformed terms file with its path and line, and writes nothing', async () => {
    const terms = TERMS()
      .replace('recipient: RS', 'recipient: MK')
      .replace('persons.citizenship]', 'persons.name]')
      .replace('period: month', 'period: month\n    minCell: 2')
      .replace('[border-management, risk-analysis]', '[border-management, espionage]');
    const termsFile = join(dir, 'bad.yaml');
    const out = join(dir, 'bad.json');
    await writeFile(termsFile, terms);
    const r = await wbx(['agreement', 'draft', '--file', termsFile, '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('  purposes[1] (line 5): must be one of');
    expect(r.stderr).toContain('  terms[1].minCell (line 20): must be at least 3');
    expect(r.stderr).toContain('  recipient (line 4): the recipient must not be the provider');
    expect(r.stderr).toContain(
      '  terms[0].fields[2] (line 12): persons.name is not a field of crossing.irregular',
    );
    expect(r.stderr).toMatch(/wbx: MALFORMED_AGREEMENT: terms file .*bad\.yaml rejected \(4 problems\)\n$/);
    await expect(readFile(out)).rejects.toThrow();
  });

  it('refuses trafficking victim records without victim-protection (SPECIAL_CATEGORY)', async () => {
    const terms = TERMS()
      .replace('[crossing.irregular]', '[trafficking.victim]')
      .replace(
        'fields: [occurredAt, routeSegment, persons.citizenship]\n    where:\n      routeSegment: [GR-MK]',
        'fields: [exploitationType]',
      );
    const termsFile = join(dir, 'victims.yaml');
    await writeFile(termsFile, terms);
    const r = await wbx(['agreement', 'draft', '--file', termsFile, '--out', join(dir, 'victims.json')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'terms[0].types[0] (line 10): trafficking.victim records are special-category data',
    );
    expect(r.stderr).toMatch(/wbx: SPECIAL_CATEGORY: .* rejected \(1 problem\)\n$/);
  });

  it('refuses to overwrite an agreement file unless --force', async () => {
    const file = await draft('draft-twice');
    const r = await wbx(['agreement', 'draft', '--file', join(dir, 'draft-twice.yaml'), '--out', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--force');
    await ok(['agreement', 'draft', '--file', join(dir, 'draft-twice.yaml'), '--out', file, '--force']);
  });
});

describe('wbx agreement sign / verify', () => {
  it('is INACTIVE with one party’s signature and ACTIVE with both', async () => {
    const file = await draft('sign');
    const unsigned = await verify(file);
    expect(unsigned.code).toBe(1);
    expect(unsigned.stdout).toContain('INACTIVE: MISSING_SIGNATURE:MK, MISSING_SIGNATURE:RS\n');

    expect(await sign(file, 'MK')).toMatch(/^signed .*sign\.json as MK#\S+ \(1 signature\)\n$/);
    const half = await verify(file);
    expect(half.code).toBe(1);
    expect(half.stdout).toContain('valid signatures: MK\n');
    expect(half.stdout.endsWith('INACTIVE: MISSING_SIGNATURE:RS\n')).toBe(true);

    await sign(file, 'RS');
    const both = await verify(file);
    expect(both.stderr).toBe('');
    expect(both.code).toBe(0);
    expect(both.stdout).toContain('MK-RS-2026-001: MK → RS');
    expect(both.stdout.endsWith('valid signatures: MK, RS\nACTIVE\n')).toBe(true);

    expect((await verify(file, '--at', iso(366))).stdout).toContain('INACTIVE: EXPIRED\n');
    const beforeSigned = await verify(file, '--at', iso(-1));
    expect(beforeSigned.stdout).toMatch(
      /INACTIVE: SIGNED_IN_FUTURE:MK#\S+, SIGNED_IN_FUTURE:RS#\S+, MISSING_/,
    );
  });

  it('is INACTIVE: NOT_YET_VALID before validFrom', async () => {
    const file = await draft('future', TERMS(iso(2)));
    await sign(file, 'MK');
    await sign(file, 'RS');
    const r = await verify(file);
    expect(r.code).toBe(1);
    expect(r.stdout.endsWith('valid signatures: MK, RS\nINACTIVE: NOT_YET_VALID\n')).toBe(true);
    expect((await verify(file, '--at', iso(3))).code).toBe(0);
  });

  it('refuses a key of a non-party and a second signature by a party, leaving the file as it was', async () => {
    const file = await draft('refuse');
    await sign(file, 'MK');
    const before = await readFile(file, 'utf8');
    const al = await wbx(['agreement', 'sign', '--agreement', file, '--key', id.keyFile('AL')]);
    expect(al.code).toBe(1);
    expect(al.stderr).toMatch(/^wbx: NOT_A_PARTY: cannot sign agreement: /);
    const again = await wbx(['agreement', 'sign', '--agreement', file, '--key', id.keyFile('MK')]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('DUPLICATE_SIGNER');
    expect(await readFile(file, 'utf8')).toBe(before);
  });

  it('rejects a file that is not an agreement', async () => {
    const file = join(dir, 'not-an-agreement.json');
    await writeFile(file, JSON.stringify({ payload: 'e30', signatures: 'none' }));
    const r = await verify(file);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('  signatures: ');
    expect(r.stderr).toContain('MALFORMED_AGREEMENT');
  });
});

describe('wbx agreement show', () => {
  it('prints parties, purposes, signatures and a table of the terms; --json prints the body', async () => {
    const file = await draft('show');
    await sign(file, 'RS');
    const text = await ok(['agreement', 'show', '--agreement', file]);
    expect(text).toContain('agreement MK-RS-2026-001: MK provides, RS receives\n');
    expect(text).toContain('purposes: border-management, risk-analysis\n');
    expect(text).toMatch(/signatures \(unverified\): RS#\S+\n/);
    expect(text).toContain('revocations (unverified): none\n');
    expect(text).toMatch(
      /1 +crossing\.irregular +records +occurredAt, routeSegment, persons\.citizenship +routeSegment in GR-MK +90 days/,
    );
    expect(text).toMatch(
      /2 +asylum\.application +aggregate +person\.citizenship per month, cells < 5 suppressed +- +365 days/,
    );
    const json = JSON.parse(await ok(['agreement', 'show', '--agreement', file, '--json'])) as Record<
      string,
      unknown
    >;
    expect(json).toMatchObject({ id: 'MK-RS-2026-001', purposes: ['border-management', 'risk-analysis'] });
  });
});

describe('wbx agreement for readmission', () => {
  it('drafts and shows the answer period; refuses the purpose return-readmission without one', async () => {
    const base = TERMS().replace(
      'purposes: [border-management, risk-analysis]',
      'purposes: [return-readmission]',
    );
    const file = await draft('readmission', `${base}readmission:\n  answerWithinHours: 288\n`);
    expect(await ok(['agreement', 'show', '--agreement', file])).toContain(
      'readmission: answer within 288 hours\n',
    );
    const termsFile = join(dir, 'readmission-missing.yaml');
    await writeFile(termsFile, base);
    const r = await wbx([
      'agreement',
      'draft',
      '--file',
      termsFile,
      '--out',
      join(dir, 'readmission-missing.json'),
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/readmission.*return-readmission/);
  });
});

describe('wbx agreement revoke', () => {
  it('lets either party revoke; the agreement is REVOKED from the given time on', async () => {
    for (const party of ['MK', 'RS']) {
      const file = await draft(`revoke-${party}`);
      await sign(file, 'MK');
      await sign(file, 'RS');
      const at = iso(30);
      const out = await ok([
        'agreement',
        'revoke',
        '--agreement',
        file,
        '--key',
        id.keyFile(party),
        '--at',
        at,
      ]);
      expect(out).toMatch(new RegExp(`^revoked MK-RS-2026-001 from ${at} \\(signed as ${party}#\\S+\\)\\n$`));
      expect((await verify(file)).code).toBe(0);
      const later = await verify(file, '--at', iso(31));
      expect(later.code).toBe(1);
      expect(later.stdout).toContain(`revoked from ${at}\nINACTIVE: REVOKED:${party}\n`);
    }
  });

  it('refuses a revocation by a non-party and a second one that changes nothing', async () => {
    const file = await draft('revoke-refused');
    await sign(file, 'MK');
    await sign(file, 'RS');
    const al = await wbx(['agreement', 'revoke', '--agreement', file, '--key', id.keyFile('AL')]);
    expect(al.code).toBe(1);
    expect(al.stderr).toContain('NOT_A_PARTY');
    await ok(['agreement', 'revoke', '--agreement', file, '--key', id.keyFile('RS')]);
    const again = await wbx(['agreement', 'revoke', '--agreement', file, '--key', id.keyFile('MK')]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('ALREADY_REVOKED');
    const now = await verify(file);
    expect(now.stdout).toContain('INACTIVE: REVOKED:RS\n');
  });
});
