import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';

import { writeFileAtomic } from '@wbx/gateway';
import { certPin } from '@wbx/pki';
import {
  acceptManifestChain,
  addMember,
  createManifest,
  decodeManifest,
  importPrivateJwk,
  importPublicJwk,
  RegistryError,
  resolveSigningKey,
  revokeKey,
  ROLES,
  rotateKey,
  setTlsPins,
  signatureKids,
  signManifest,
  verifyRootManifest,
  type ManifestBody,
  type Member,
  type Role,
  type SignedManifest,
  type SigningKey,
} from '@wbx/registry';
import { AGENCIES, isPartnerCode } from '@wbx/schema';
import type { Command } from 'commander';

import { parseCliDate } from './dates.js';
import { CliError } from './errors.js';
import { write, type CliIo } from './io.js';
import { PUBLIC_FILE, readJsonFile } from './keys.js';
import { renderTable } from './table.js';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** Runs a registry step; a RegistryError becomes INVALID_INPUT `<doing>: <CODE>: <message>`. */
async function registry<T>(doing: string, step: () => T | Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (e) {
    if (e instanceof RegistryError) {
      throw new CliError(e, `${doing}: ${e.message}`);
    }
    throw e;
  }
}

/** Splits repeated `CODE=value` flags into a map keyed by partner code. */
function byPartner(flag: string, values: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const v of values) {
    const eq = v.indexOf('=');
    const code = eq < 0 ? v : v.slice(0, eq);
    if (eq < 0 || !isPartnerCode(code)) throw new CliError('USAGE', `${flag}: "${v}" is not CODE=VALUE`);
    if (out.has(code)) throw new CliError('USAGE', `${flag}: ${code} given twice`);
    out.set(code, v.slice(eq + 1));
  }
  return out;
}

async function readManifest(path: string): Promise<SignedManifest> {
  return (await readJsonFile(path, 'manifest')) as SignedManifest;
}

/** The body of a manifest file, to derive a proposal from (its signatures are not checked here). */
async function readBody(path: string): Promise<ManifestBody> {
  const signed = await readManifest(path);
  return registry(`cannot read manifest ${path}`, () => decodeManifest(signed));
}

async function writeManifest(path: string, signed: SignedManifest, exclusive = false): Promise<void> {
  try {
    await writeFileAtomic(path, `${JSON.stringify(signed, null, 2)}\n`, { ...PUBLIC_FILE, exclusive });
  } catch (e) {
    if (exclusive && (e as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new CliError('USAGE', `${path} exists; refusing to overwrite it`);
    }
    const why = e instanceof Error ? e.message : String(e);
    throw new CliError('IO', `cannot write ${path}: ${why}`, { cause: e });
  }
}

/** A public key file as a manifest key valid from `notBefore`; its kid must be the partner's. */
async function signingKeyFile(code: string, path: string, notBefore: string): Promise<SigningKey> {
  const { kid, memberId, jwk } = await registry(`public key ${path}`, async () =>
    importPublicJwk(await readJsonFile(path, 'public key')),
  );
  if (memberId !== code)
    throw new CliError('INVALID_INPUT', `public key ${path}: ${kid} is not a key of ${code}`);
  return { kid, jwk, notBefore };
}

/** An Exchange client certificate as the manifest pins it. */
interface CertificatePin {
  /** SHA-256 of the DER certificate, lowercase hex (what the gateway compares with the caller's). */
  readonly sha256: string;
  readonly subject: string;
  readonly validTo: string;
}

/**
 * The pin of the certificate in `path` (PEM, its first certificate, or DER): IO when the file cannot be
 * read; INVALID_CERTIFICATE when it holds no certificate or a CA's (a partner's Exchange presents its own
 * leaf certificate, and a CA certificate is never one).
 */
async function certificatePin(path: string): Promise<CertificatePin> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new CliError('IO', `cannot read the certificate ${path} (${code})`, { cause: e });
  }
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(bytes);
  } catch (e) {
    throw new CliError('INVALID_CERTIFICATE', `${path} holds no X.509 certificate (PEM or DER)`, {
      cause: e,
    });
  }
  if (cert.ca) {
    throw new CliError(
      'INVALID_CERTIFICATE',
      `${path} is a CA certificate, not a partner's Exchange certificate`,
    );
  }
  return {
    sha256: certPin(cert.raw),
    subject: cert.subject.replaceAll('\n', ', '),
    validTo: new Date(cert.validTo).toISOString(),
  };
}

/** The pins of `files`, with a line on stderr for each (and a warning for one that has expired). */
async function certificatePins(io: CliIo, files: readonly string[]): Promise<string[]> {
  const pins: string[] = [];
  for (const file of files) {
    const pin = await certificatePin(file);
    const expired = Date.parse(pin.validTo) <= io.now().getTime() ? ' — EXPIRED' : '';
    await write(io.stderr, `pin ${pin.sha256} (${pin.subject}, valid to ${pin.validTo}${expired})\n`);
    if (!pins.includes(pin.sha256)) pins.push(pin.sha256);
  }
  return pins;
}

const isRole = (r: string): r is Role => (ROLES as readonly string[]).includes(r);

/** `--roles` of a member, else analyst for agencies and origin + recipient for states. */
function rolesOf(code: string, spec: string | undefined): Role[] {
  if (spec === undefined)
    return (AGENCIES as readonly string[]).includes(code) ? ['analyst'] : ['origin', 'recipient'];
  const roles = spec.split(',');
  const bad = roles.find((r) => !isRole(r));
  if (bad !== undefined)
    throw new CliError('USAGE', `--roles: "${bad}" is not a role (one of ${ROLES.join(', ')})`);
  return roles.filter(isRole);
}

interface RotateKeyOptions {
  manifest: string;
  partner: string;
  publicKey: string;
  retireOldAt?: string;
  out?: string;
}

interface MemberFlags {
  member: string[];
  name: string[];
  roles: string[];
}

async function membersFromFlags(flags: MemberFlags, notBefore: string): Promise<Member[]> {
  const files = byPartner('--member', flags.member);
  const names = byPartner('--name', flags.name);
  const roles = byPartner('--roles', flags.roles);
  for (const code of [...names.keys(), ...roles.keys()]) {
    if (!files.has(code)) throw new CliError('USAGE', `--name/--roles: ${code} has no --member`);
  }
  const members: Member[] = [];
  for (const [code, file] of files) {
    members.push({
      id: code,
      name: names.get(code) ?? code,
      roles: rolesOf(code, roles.get(code)),
      signingKeys: [await signingKeyFile(code, file, notBefore)],
      tlsCertSha256: [],
    });
  }
  return members;
}

/** Writes a proposal to `--out`, or as JSON to stdout; the summary goes to stderr. */
async function emitProposal(io: CliIo, signed: SignedManifest, what: string, out?: string): Promise<number> {
  const { version } = decodeManifest(signed);
  if (out === undefined) await write(io.stdout, `${JSON.stringify(signed, null, 2)}\n`);
  else await writeManifest(out, signed);
  await write(
    io.stderr,
    `proposed version ${version} (${what}), unsigned${out === undefined ? '' : `: ${out}`}\n`,
  );
  return 0;
}

function summary(body: ManifestBody): string {
  return (
    `version ${body.version}, issued ${body.issuedAt}, threshold ${body.threshold} of ${body.members.length}\n` +
    `members: ${body.members.map((m) => m.id).join(', ')}\n`
  );
}

/** The kids of the signatures, for display only (nothing verified); '?' if a header is unreadable. */
function kidsForDisplay(signed: SignedManifest): string {
  try {
    return signatureKids(signed).join(', ') || 'none';
  } catch {
    return '?';
  }
}

/** Runs a verification; a RegistryError prints its details and becomes INVALID_INPUT `<what>: <CODE>: …`. */
async function checked<T>(io: CliIo, what: string, step: () => T): Promise<T> {
  try {
    return step();
  } catch (e) {
    if (!(e instanceof RegistryError)) throw e;
    for (const d of e.details) await write(io.stdout, `  ${d}\n`);
    throw new CliError(e, `${what}: ${e.message}`);
  }
}

async function verifyCommand(
  io: CliIo,
  o: { manifest: string; trusted?: string; chain?: string },
): Promise<number> {
  if (o.chain !== undefined && o.trusted === undefined)
    throw new CliError('USAGE', '--chain needs --trusted');
  const signed = await readManifest(o.manifest);
  const chain: SignedManifest[] = [];
  for (const f of (o.chain ?? '').split(',').filter((x) => x !== '')) chain.push(await readManifest(f));
  const trusted = o.trusted === undefined ? undefined : await readManifest(o.trusted);
  try {
    await write(io.stdout, summary(decodeManifest(signed)));
    await write(io.stdout, `signatures: ${kidsForDisplay(signed)}\n`);
  } catch {
    // A malformed manifest: the verification below reports it with its code.
  }
  const root =
    trusted === undefined
      ? undefined
      : await checked(io, 'trusted manifest rejected', () => verifyRootManifest(trusted));
  await checked(io, 'manifest rejected', () =>
    root === undefined ? verifyRootManifest(signed) : acceptManifestChain(root, [...chain, signed]),
  );
  await write(io.stdout, 'OK\n');
  return 0;
}

/** A key's status at `now` for display: valid, revoked, expired, not yet valid. */
function keyStatus(body: ManifestBody, memberId: string, kid: string, now: Date): string {
  try {
    resolveSigningKey(body, memberId, kid, now);
    return 'valid';
  } catch (e) {
    return e instanceof RegistryError ? e.code.replace(/^KEY_/, '').toLowerCase().replaceAll('_', ' ') : '?';
  }
}

function showTable(body: ManifestBody, signed: SignedManifest, now: Date): string {
  const header = ['member', 'name', 'roles', 'kid', 'not before', 'not after', 'revoked at', 'status'];
  const rows = body.members.flatMap((m) =>
    m.signingKeys.map((k) => {
      const status = keyStatus(body, m.id, k.kid, now);
      return [
        m.id,
        m.name,
        m.roles.join(','),
        k.kid,
        k.notBefore,
        k.notAfter ?? '-',
        k.revokedAt ?? '-',
        status,
      ];
    }),
  );
  const endpoints = body.members
    .filter((m) => m.nats !== undefined || m.grpc !== undefined)
    .map((m) => `${m.id}: nats ${m.nats ?? '-'}, grpc ${m.grpc ?? '-'}\n`)
    .join('');
  const pins = body.members
    .filter((m) => m.tlsCertSha256.length > 0)
    .map((m) => `${m.id}: Exchange certificate pins ${m.tlsCertSha256.join(', ')}\n`)
    .join('');
  const kids = kidsForDisplay(signed);
  return `${summary(body)}signatures (unverified): ${kids}\n\n${renderTable(header, rows)}\n${endpoints}${pins}`;
}

/** Adds `wbx manifest …` to the program. Actions store their exit status in `result.exitCode`. */
export function registerManifestCommands(program: Command, io: CliIo, result: { exitCode: number }): void {
  const manifest = program
    .command('manifest')
    .description('create, sign, change and verify the federation manifest');
  const now = (): string => io.now().toISOString();
  const memberOptions = (c: Command): Command =>
    c
      .option('--name <code=name>', 'a member’s name, e.g. MK="North Macedonia" (repeatable)', collect, [])
      .option('--roles <code=roles>', `a member’s roles, e.g. MK=${ROLES.join(',')}`, collect, []);

  memberOptions(
    manifest
      .command('init')
      .description('write version 1 of a manifest (unsigned) from the members’ public keys')
      .requiredOption('--member <code=file>', 'a member and its public key file (repeatable)', collect, [])
      .requiredOption('--threshold <k>', 'how many members must sign each version')
      .requiredOption('--out <file>', 'manifest file to create'),
  ).action(async (o: MemberFlags & { threshold: string; out: string }) => {
    if (!/^[1-9]\d*$/.test(o.threshold))
      throw new CliError('USAGE', `--threshold: "${o.threshold}" is not a whole number ≥ 1`);
    const members = await membersFromFlags(o, now());
    const signed = await registry('cannot create manifest', () =>
      createManifest({ version: 1, threshold: Number(o.threshold), issuedAt: now(), members }),
    );
    await writeManifest(o.out, signed, true);
    await write(io.stdout, `wrote ${o.out}: ${summary(decodeManifest(signed)).trimEnd()}\n`);
    result.exitCode = 0;
  });

  manifest
    .command('sign')
    .description('add this partner’s signature to a manifest, in place')
    .requiredOption('--manifest <file>', 'manifest file')
    .requiredOption('--key <file>', 'private key file (from wbx keys generate)')
    .action(async (o: { manifest: string; key: string }) => {
      const signed = await readManifest(o.manifest);
      const { kid, key } = await registry(`private key ${o.key}`, async () =>
        importPrivateJwk(await readJsonFile(o.key, 'private key')),
      );
      const out = await registry('cannot sign manifest', () => signManifest(signed, key, kid));
      await writeManifest(o.manifest, out);
      const n = out.signatures.length;
      await write(io.stdout, `signed ${o.manifest} as ${kid} (${n} signature${n === 1 ? '' : 's'})\n`);
      result.exitCode = 0;
    });

  memberOptions(
    manifest
      .command('add-member')
      .description('propose the next version with a new member')
      .requiredOption('--manifest <file>', 'current manifest')
      .requiredOption('--member <code=file>', 'the new member and its public key file', collect, [])
      .option('--tls-cert <file>', 'pin its Exchange client certificate (PEM; repeatable)', collect, [])
      .option('--out <file>', 'write the proposal here (default: stdout)'),
  ).action(async (o: MemberFlags & { manifest: string; tlsCert: string[]; out?: string }) => {
    const body = await readBody(o.manifest);
    const members = await membersFromFlags(o, now());
    const [first] = members;
    if (first === undefined || members.length > 1) throw new CliError('USAGE', '--member: give exactly one');
    const member = { ...first, tlsCertSha256: await certificatePins(io, o.tlsCert) };
    const proposal = await registry('cannot add member', () => addMember(body, member, now()));
    result.exitCode = await emitProposal(io, proposal, `add ${member.id}`, o.out);
  });

  manifest
    .command('rotate-key')
    .description('propose the next version with a new signing key for a member')
    .requiredOption('--manifest <file>', 'current manifest')
    .requiredOption('--partner <code>', 'the member')
    .requiredOption('--public-key <file>', 'the new public key file')
    .option('--retire-old-at <time>', 'end the member’s current keys at this time (YYYY-MM-DD or ISO 8601)')
    .option('--out <file>', 'write the proposal here (default: stdout)')
    .action(async (o: RotateKeyOptions) => {
      const body = await readBody(o.manifest);
      const key = await signingKeyFile(o.partner, o.publicKey, now());
      const retireOldAt =
        o.retireOldAt === undefined ? undefined : parseCliDate('--retire-old-at', o.retireOldAt);
      const proposal = await registry('cannot rotate key', () =>
        rotateKey(body, o.partner, key, now(), retireOldAt === undefined ? {} : { retireOldAt }),
      );
      result.exitCode = await emitProposal(io, proposal, `rotate ${o.partner} to ${key.kid}`, o.out);
    });

  manifest
    .command('set-tls')
    .description('propose the next version pinning a member’s Exchange client certificates')
    .requiredOption('--manifest <file>', 'current manifest')
    .requiredOption('--member <code>', 'the member')
    .requiredOption('--cert <file>', 'its Exchange certificate (PEM; repeatable)', collect, [])
    .option('--keep', 'keep its current pins too (while its Exchange certificate is being replaced)')
    .option('--out <file>', 'write the proposal here (default: stdout)')
    .action(async (o: { manifest: string; member: string; cert: string[]; keep?: boolean; out?: string }) => {
      const body = await readBody(o.manifest);
      const current = body.members.find((m) => m.id === o.member)?.tlsCertSha256 ?? [];
      const pins = await certificatePins(io, o.cert);
      const all = o.keep === true ? [...current, ...pins.filter((p) => !current.includes(p))] : pins;
      const proposal = await registry('cannot pin certificates', () =>
        setTlsPins(body, o.member, all, now()),
      );
      const what = `pin ${all.length} Exchange certificate${all.length === 1 ? '' : 's'} of ${o.member}`;
      result.exitCode = await emitProposal(io, proposal, what, o.out);
    });

  manifest
    .command('revoke-key')
    .description('propose the next version with a key revoked')
    .requiredOption('--manifest <file>', 'current manifest')
    .requiredOption('--kid <kid>', 'the key, e.g. MK#2026-11-28-1')
    .option('--at <time>', 'revoked from this time on (default: now)')
    .option('--out <file>', 'write the proposal here (default: stdout)')
    .action(async (o: { manifest: string; kid: string; at?: string; out?: string }) => {
      const body = await readBody(o.manifest);
      const at = o.at === undefined ? io.now() : parseCliDate('--at', o.at);
      const owner = o.kid.slice(0, Math.max(0, o.kid.indexOf('#')));
      const proposal = await registry('cannot revoke key', () => revokeKey(body, owner, o.kid, at, now()));
      result.exitCode = await emitProposal(io, proposal, `revoke ${o.kid}`, o.out);
    });

  manifest
    .command('verify')
    .description('verify a manifest on its own, or as the successor of a trusted one; exit 1 if rejected')
    .requiredOption('--manifest <file>', 'the manifest to verify')
    .option('--trusted <file>', 'a manifest already trusted (pinned); the chain must lead from it')
    .option('--chain <files>', 'comma-separated versions between --trusted and --manifest, oldest first')
    .action(async (o: { manifest: string; trusted?: string; chain?: string }) => {
      result.exitCode = await verifyCommand(io, o);
    });

  manifest
    .command('show')
    .description('print a manifest’s members and keys (without verifying it)')
    .requiredOption('--manifest <file>', 'manifest file')
    .option('--json', 'print the body as JSON')
    .action(async (o: { manifest: string; json?: boolean }) => {
      const signed = await readManifest(o.manifest);
      const body = await registry(`cannot read manifest ${o.manifest}`, () => decodeManifest(signed));
      const text = o.json === true ? `${JSON.stringify(body, null, 2)}\n` : showTable(body, signed, io.now());
      await write(io.stdout, text);
      result.exitCode = 0;
    });
}
