import { readFile } from 'node:fs/promises';

import { writeFileAtomic } from '@wbx/gateway';
import {
  AgreementError,
  agreementStatus,
  decodeAgreement,
  decodeRevocation,
  draftAgreement,
  parseAgreementYaml,
  parseSignedAgreement,
  revokeAgreement,
  signAgreement,
  signatureKids,
  type AgreementBody,
  type SignedAgreement,
  type Term,
} from '@wbx/agreements';
import { importPrivateJwk, RegistryError } from '@wbx/registry';
import type { Command } from 'commander';

import { parseCliDate } from './dates.js';
import { CliError } from './errors.js';
import { write, type CliIo } from './io.js';
import { PUBLIC_FILE, readJsonFile } from './keys.js';
import { loadTrustedManifest } from './seal.js';
import { renderTable } from './table.js';

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/**
 * Runs an agreements step. An AgreementError with issues prints each (`path (line n): message`) to
 * stderr and becomes INVALID_INPUT `<doing>: <CODE> (n problems)`; one without becomes
 * INVALID_INPUT `<doing>: <CODE>: <message>`; a RegistryError (a key file) likewise.
 */
async function step<T>(io: CliIo, doing: string, run: () => T | Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (e) {
    if (e instanceof AgreementError && e.issues.length > 0) {
      for (const d of e.details) await write(io.stderr, `  ${d}\n`);
      const n = e.issues.length;
      throw new CliError(e, `${doing} (${n} problem${n === 1 ? '' : 's'})`);
    }
    if (e instanceof AgreementError || e instanceof RegistryError) {
      throw new CliError(e, `${doing}: ${e.message}`);
    }
    throw e;
  }
}

async function readAgreement(io: CliIo, path: string): Promise<SignedAgreement> {
  const json = await readJsonFile(path, 'agreement');
  return step(io, `agreement ${path} rejected`, () => parseSignedAgreement(json));
}

async function writeAgreement(path: string, signed: SignedAgreement, exclusive = false): Promise<void> {
  try {
    await writeFileAtomic(path, `${JSON.stringify(signed, null, 2)}\n`, { ...PUBLIC_FILE, exclusive });
  } catch (e) {
    if (exclusive && (e as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new CliError('USAGE', `${path} exists; refusing to overwrite it (use --force)`);
    }
    throw new CliError('IO', `cannot write ${path}: ${errorText(e)}`, { cause: e });
  }
}

async function readKey(io: CliIo, path: string): Promise<ReturnType<typeof importPrivateJwk>> {
  const json = await readJsonFile(path, 'private key');
  return step(io, `private key ${path}`, () => importPrivateJwk(json));
}

const plural = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;

function summary(body: AgreementBody): string {
  return `${body.id}: ${body.provider} → ${body.recipient}, valid ${body.validFrom} to ${body.validUntil}\n`;
}

function whereText(term: Term): string {
  const where = Object.entries(term.where ?? {});
  return where.length === 0 ? '-' : where.map(([f, v]) => `${f} in ${v.map(String).join('|')}`).join(' and ');
}

function termRow(term: Term, i: number): (string | number)[] {
  const what =
    term.mode === 'records'
      ? `${term.fields.join(', ')}${term.specialCategory === true ? ' (special category)' : ''}`
      : `${term.dimensions.join(' × ')} per ${term.period}, cells < ${term.minCell} suppressed`;
  return [i + 1, term.types.join(', '), term.mode, what, whereText(term), `${term.retentionDays} days`];
}

/** The kids of the signatures and the revocations, for display only (nothing verified). */
function attachments(signed: SignedAgreement): string {
  const kids = signatureKids(signed);
  const revocations = (signed.revocations ?? []).map((r) => {
    const content = decodeRevocation(r);
    return content === undefined ? '?' : `by ${content.by} from ${content.revokedAt}`;
  });
  return (
    `signatures (unverified): ${kids.length === 0 ? 'none' : kids.join(', ')}\n` +
    `revocations (unverified): ${revocations.length === 0 ? 'none' : revocations.join('; ')}\n`
  );
}

function showText(body: AgreementBody, signed: SignedAgreement): string {
  const header = ['#', 'types', 'mode', 'fields / dimensions', 'where', 'retention'];
  return (
    `agreement ${body.id}: ${body.provider} provides, ${body.recipient} receives\n` +
    `purposes: ${body.purposes.join(', ')}\n` +
    `legal basis: ${body.legalBasis}\n` +
    `valid: ${body.validFrom} to ${body.validUntil}\n` +
    (body.readmission === undefined
      ? ''
      : `readmission: answer within ${body.readmission.answerWithinHours} hours\n`) +
    (body.deleteOnEnd === true ? 'on revocation or expiry: the recipient deletes what it holds\n' : '') +
    attachments(signed) +
    `\n${renderTable(header, body.terms.map(termRow))}\n`
  );
}

interface KeyOptions {
  agreement: string;
  key: string;
}

/** Adds `wbx agreement …` to the program. Actions store their exit status in `result.exitCode`. */
export function registerAgreementCommands(program: Command, io: CliIo, result: { exitCode: number }): void {
  const agreement = program
    .command('agreement')
    .description('draft, sign, verify, show and revoke bilateral agreements');

  agreement
    .command('draft')
    .description('write an unsigned agreement from a terms file (YAML or JSON); every error with its path')
    .requiredOption(
      '--file <file>',
      'terms file: id, provider, recipient, purposes, legalBasis, validity, terms (readmission with return-readmission)',
    )
    .requiredOption('--out <file>', 'agreement file to create')
    .option('--force', 'overwrite --out if it exists (its signatures are lost)')
    .action(async (o: { file: string; out: string; force?: boolean }) => {
      let text: string;
      try {
        text = await readFile(o.file, 'utf8');
      } catch (e) {
        throw new CliError('IO', `cannot read terms file ${o.file}: ${errorText(e)}`, { cause: e });
      }
      const body = await step(io, `terms file ${o.file} rejected`, () => parseAgreementYaml(text));
      await writeAgreement(o.out, draftAgreement(body), o.force !== true);
      const terms = plural(body.terms.length, 'term');
      await write(
        io.stdout,
        `wrote ${o.out}: ${body.id} (${body.provider} → ${body.recipient}, ${terms}), unsigned\n`,
      );
      result.exitCode = 0;
    });

  agreement
    .command('sign')
    .description('add this party’s signature to an agreement, in place (provider or recipient only)')
    .requiredOption('--agreement <file>', 'agreement file')
    .requiredOption('--key <file>', 'the party’s private key file (from wbx keys generate)')
    .action(async (o: KeyOptions) => {
      const signed = await readAgreement(io, o.agreement);
      const { kid, key } = await readKey(io, o.key);
      const out = await step(io, 'cannot sign agreement', () => signAgreement(signed, key, kid, io.now()));
      await writeAgreement(o.agreement, out);
      const n = out.signatures.length;
      await write(io.stdout, `signed ${o.agreement} as ${kid} (${plural(n, 'signature')})\n`);
      result.exitCode = 0;
    });

  agreement
    .command('verify')
    .description(
      'check an agreement against the manifest: prints ACTIVE, or INACTIVE and why; exit 0 only if active',
    )
    .requiredOption('--agreement <file>', 'agreement file')
    .requiredOption('--manifest <file>', 'the signed federation manifest')
    .option('--at <time>', 'check at this time instead of now (YYYY-MM-DD or ISO 8601)')
    .action(async (o: { agreement: string; manifest: string; at?: string }) => {
      const at = o.at === undefined ? io.now() : parseCliDate('--at', o.at);
      const manifest = await loadTrustedManifest(o.manifest);
      const signed = await readAgreement(io, o.agreement);
      const status = await step(io, `agreement ${o.agreement} rejected`, () =>
        agreementStatus(signed, manifest, at),
      );
      const signers = status.signedBy.length === 0 ? 'nobody' : status.signedBy.join(', ');
      const revoked = status.revokedAt === undefined ? '' : `revoked from ${status.revokedAt}\n`;
      const verdict = status.active ? 'ACTIVE' : `INACTIVE: ${status.reasons.join(', ')}`;
      await write(io.stdout, `${summary(status.body)}valid signatures: ${signers}\n${revoked}${verdict}\n`);
      result.exitCode = status.active ? 0 : 1;
    });

  agreement
    .command('show')
    .description('print an agreement’s parties, purposes and terms (without verifying it)')
    .requiredOption('--agreement <file>', 'agreement file')
    .option('--json', 'print the body as JSON')
    .action(async (o: { agreement: string; json?: boolean }) => {
      const signed = await readAgreement(io, o.agreement);
      const body = await step(io, `agreement ${o.agreement} rejected`, () => decodeAgreement(signed));
      await write(io.stdout, o.json === true ? `${JSON.stringify(body, null, 2)}\n` : showText(body, signed));
      result.exitCode = 0;
    });

  agreement
    .command('revoke')
    .description('append a revocation signed by this party (provider or recipient), in place')
    .requiredOption('--agreement <file>', 'agreement file')
    .requiredOption('--key <file>', 'the party’s private key file')
    .option('--at <time>', 'revoked from this time on (default: now)')
    .action(async (o: KeyOptions & { at?: string }) => {
      const revokedAt = o.at === undefined ? io.now() : parseCliDate('--at', o.at);
      const signed = await readAgreement(io, o.agreement);
      const { kid, key } = await readKey(io, o.key);
      const out = await step(io, 'cannot revoke agreement', () =>
        revokeAgreement(signed, key, kid, { revokedAt, at: io.now() }),
      );
      await writeAgreement(o.agreement, out);
      const id = decodeAgreement(out).id;
      await write(io.stdout, `revoked ${id} from ${revokedAt.toISOString()} (signed as ${kid})\n`);
      result.exitCode = 0;
    });
}
