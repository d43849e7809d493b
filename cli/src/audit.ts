import { readFile } from 'node:fs/promises';

import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import {
  AUDIT_STREAM,
  AuditError,
  type AuditAnchor,
  auditReport,
  decodeAuditEntry,
  readAudit,
  verifyAuditChain,
  type AuditEntry,
  type AuditMessage,
  type AuditReportRow,
} from '@wbx/audit';
import { isPartnerCode } from '@wbx/schema';
import type { Command } from 'commander';

import { readAuditAnchor } from '@wbx/gateway';
import { subjectRefOption, subjectReport } from './audit-subject.js';
import { parseCliDate } from './dates.js';
import { CliError } from './errors.js';
import { write, type CliIo } from './io.js';
import { Progress } from './progress.js';
import { loadTrustedManifest } from './seal.js';
import { renderTable } from './table.js';

export interface AuditVerifyOptions {
  nats: string;
  manifest: string;
  partner: string;
  nkey?: string;
  anchor?: string;
  json?: boolean;
}

export interface AuditReportOptions {
  nats: string;
  partner: string;
  nkey?: string;
  recipient?: string;
  from?: string;
  to?: string;
  json?: boolean;
  subject?: string;
  received?: boolean;
  format?: string;
  manifest?: string;
  anchor?: string;
  agreements?: string;
}

function partnerCode(flag: string, code: string): string {
  if (!isPartnerCode(code)) throw new CliError('USAGE', `${flag}: "${code}" is not a partner code, e.g. MK`);
  return code;
}

function natsUrl(url: string): string {
  if (!/^(nats|tls):\/\/.+/.test(url))
    throw new CliError('USAGE', `--nats: "${url}" must be a nats:// or tls:// URL`);
  return url;
}

/**
 * Connects, runs `read` over the partner's audit messages and closes. Resolves to `read`'s result;
 * throws UNREACHABLE or NOT_FOUND (no audit stream there).
 */
async function withAudit<T>(
  io: CliIo,
  url: string,
  nkey: string | undefined,
  origin: string,
  read: (messages: AsyncIterable<AuditMessage>) => Promise<T>,
): Promise<T> {
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  try {
    const seed = nkey === undefined ? undefined : (await readFile(nkey, 'utf8')).trim();
    nc = await connect({
      servers: url,
      name: 'wbx-audit',
      timeout: 10_000,
      ...(seed === undefined ? {} : { authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)) }),
    });
  } catch (e) {
    throw new CliError('UNREACHABLE', `cannot connect to ${url}: ${(e as Error).message}`, { cause: e });
  }
  const progress = new Progress(io.stderr, io.interactive, 'read');
  try {
    jsm = await jetstreamManager(nc);
    const counted = async function* (): AsyncGenerator<AuditMessage> {
      for await (const m of readAudit(jsm, origin)) {
        progress.tick();
        yield m;
      }
    };
    return await read(counted());
  } catch (e) {
    if (!(e instanceof AuditError) || e.code !== 'STREAM_NOT_FOUND') throw e;
    throw new CliError('NOT_FOUND', `no stream ${AUDIT_STREAM} on ${url}`, { cause: e });
  } finally {
    progress.done();
    await nc.close();
  }
}

const n = (x: number): string => x.toLocaleString('en');

/** The anchor file `--anchor` names (the gateway's `<data>/audit/anchor.json`); USAGE if it is not one. */
async function loadAnchor(file: string, origin: string): Promise<AuditAnchor> {
  let anchor: AuditAnchor | undefined;
  try {
    anchor = await readAuditAnchor(file);
  } catch (e) {
    if (!(e instanceof AuditError)) throw e;
    throw new CliError('USAGE', `--anchor: ${e.message}`, { cause: e });
  }
  if (anchor === undefined) throw new CliError('USAGE', `--anchor: ${file} does not exist`);
  if (anchor.origin !== origin) {
    throw new CliError('USAGE', `--anchor: ${file} anchors ${anchor.origin}'s chain, not ${origin}'s`);
  }
  return anchor;
}

/**
 * `wbx audit verify`: checks the partner's audit chain in WBX_AUDIT — its signed genesis, hashes,
 * sequence, checkpoints and their signatures against the manifest, and with `--anchor` that it holds the
 * checkpoint the gateway anchored. Prints OK with counts (exit 0; entries after the last checkpoint are
 * reported apart, as not yet signed) or the first broken entry with its chain seq, stream seq and reason
 * (exit 1) — an empty (purged) chain included.
 */
export async function auditVerifyCommand(io: CliIo, options: AuditVerifyOptions): Promise<number> {
  const origin = partnerCode('--partner', options.partner);
  const url = natsUrl(options.nats);
  const manifest = await loadTrustedManifest(options.manifest);
  const anchor = options.anchor === undefined ? undefined : await loadAnchor(options.anchor, origin);
  const r = await withAudit(io, url, options.nkey, origin, (messages) =>
    verifyAuditChain(messages, manifest, origin, anchor === undefined ? {} : { anchor }),
  );
  if (options.json === true) {
    await write(io.stdout, `${JSON.stringify({ stream: AUDIT_STREAM, origin, ...r })}\n`);
  } else if (r.ok) {
    const head = r.head === undefined ? 'empty' : `head seq ${r.head.seq} ${r.head.hash}`;
    const anchored = anchor === undefined ? '' : `; holds the anchored checkpoint ${anchor.seq}`;
    await write(
      io.stdout,
      `OK: ${origin} audit chain intact: ${n(r.entries)} entries (${n(r.disclosures)} disclosures, ` +
        `${n(r.checkpoints)} checkpoints), ${n(r.unsealed)} unsealed; ${head}${anchored}\n`,
    );
    if (r.unsealed > 0) {
      await write(
        io.stdout,
        `UNSEALED: entries ${r.lastCheckpoint + 1}..${r.entries} follow the last signed checkpoint ` +
          `(seq ${r.lastCheckpoint}): hash-linked, not signed yet\n`,
      );
    }
  } else {
    const b = r.firstBroken;
    await write(
      io.stdout,
      `BROKEN: entry ${b.seq} (stream seq ${b.streamSeq}): ${b.reason}: ${b.detail}\n` +
        `${n(r.verified)} entries before it verified\n`,
    );
  }
  if (r.ok && r.unsealed > 0) {
    await write(io.stderr, `note: the last ${n(r.unsealed)} entries are not yet covered by a checkpoint\n`);
  }
  return r.ok ? 0 : 1;
}

const pathsCell = (row: AuditReportRow): string =>
  row.paths.map((p) => (p.count === row.count ? p.path : `${p.path} (${n(p.count)})`)).join(', ') || '-';

/**
 * `wbx audit report`: what the partner disclosed to whom — one row per recipient, agreement, event type
 * and mode with count, first and last time and the paths disclosed. Does not verify the chain.
 */
export async function auditReportCommand(io: CliIo, options: AuditReportOptions): Promise<number> {
  const origin = partnerCode('--partner', options.partner);
  const url = natsUrl(options.nats);
  if (options.subject !== undefined) return auditSubjectCommand(io, options, origin, url, options.subject);
  const recipient =
    options.recipient === undefined ? undefined : partnerCode('--recipient', options.recipient);
  const from = options.from === undefined ? undefined : parseCliDate('--from', options.from);
  const to = options.to === undefined ? undefined : parseCliDate('--to', options.to);
  if (from !== undefined && to !== undefined && to <= from) {
    throw new CliError('USAGE', '--to must be after --from');
  }
  let unreadable = 0;
  const rows = await withAudit(io, url, options.nkey, origin, (messages) => {
    const entries = async function* (): AsyncGenerator<AuditEntry> {
      for await (const m of messages) {
        try {
          yield decodeAuditEntry(m.data);
        } catch (e) {
          if (!(e instanceof AuditError)) throw e;
          unreadable += 1;
        }
      }
    };
    return auditReport(entries(), { recipient, from, to });
  });
  if (options.json === true) {
    for (const row of rows) await write(io.stdout, `${JSON.stringify(row)}\n`);
  } else {
    const header = ['RECIPIENT', 'AGREEMENT', 'TYPE', 'MODE', 'COUNT', 'FIRST', 'LAST', 'PATHS'];
    const cells = rows.map((r) => [
      r.recipient,
      r.agreementId,
      r.eventType,
      r.mode,
      r.count,
      r.first,
      r.last,
      pathsCell(r),
    ]);
    await write(io.stdout, `${renderTable(header, cells)}\n`);
  }
  const total = rows.reduce((sum, r) => sum + r.count, 0);
  await write(io.stderr, `${n(total)} disclosures in ${n(rows.length)} rows\n`);
  if (unreadable > 0) {
    await write(
      io.stderr,
      `warning: ${n(unreadable)} messages are not audit entries; run wbx audit verify\n`,
    );
  }
  return 0;
}

/** `wbx audit report --subject REF` (audit-subject.ts): the flags checked, then the report. */
async function auditSubjectCommand(
  io: CliIo,
  options: AuditReportOptions,
  partner: string,
  url: string,
  ref: string,
): Promise<number> {
  const subject = subjectRefOption(ref);
  const format = options.format ?? 'jsonl';
  if (format !== 'jsonl' && format !== 'table') {
    throw new CliError('USAGE', `--format: "${format}" is not jsonl or table`);
  }
  for (const [flag, set] of [
    ['--recipient', options.recipient],
    ['--from', options.from],
    ['--to', options.to],
    ['--json', options.json],
  ] as const) {
    if (set !== undefined) throw new CliError('USAGE', `${flag} does not go with --subject`);
  }
  const received = options.received === true;
  if (!received && options.manifest === undefined) {
    throw new CliError('USAGE', '--subject needs --manifest: the chain is verified before it is reported');
  }
  const manifest = options.manifest === undefined ? undefined : await loadTrustedManifest(options.manifest);
  const anchor = options.anchor === undefined ? undefined : await loadAnchor(options.anchor, partner);
  return subjectReport(io, {
    url,
    nkey: options.nkey,
    partner,
    subject,
    format,
    manifest,
    anchor,
    received,
    agreementsDir: options.agreements,
  });
}

/** Adds `wbx audit …` to the program. Actions store their exit status in `result.exitCode`. */
export function registerAuditCommands(program: Command, io: CliIo, result: { exitCode: number }): void {
  const audit = program
    .command('audit')
    .description(`check and summarise the disclosure audit log (${AUDIT_STREAM}) a partner keeps`);
  audit
    .command('verify')
    .description(
      'check the signed genesis, the hash chain and the signed checkpoints (and with --anchor that the chain holds the anchored checkpoint); exit 1 naming the first broken entry',
    )
    .requiredOption('--nats <url>', `the NATS server holding ${AUDIT_STREAM}`)
    .requiredOption('--manifest <file>', 'the signed federation manifest (checkpoint keys)')
    .requiredOption('--partner <code>', 'whose audit chain, e.g. MK')
    .option(
      '--nkey <file>',
      "an nkey seed file to authenticate with (e.g. the gateway's <data>/nats-access/gateway.nkey)",
    )
    .option(
      '--anchor <file>',
      "the gateway's audit anchor (<data>/audit/anchor.json): the chain must hold the checkpoint it names",
    )
    .option('--json', 'print the result as one JSON object')
    .action(async (opts: AuditVerifyOptions) => {
      result.exitCode = await auditVerifyCommand(io, opts);
    });
  audit
    .command('report')
    .description('summarise what was disclosed to whom: per recipient, agreement, type and mode')
    .requiredOption('--nats <url>', `the NATS server holding ${AUDIT_STREAM}`)
    .requiredOption('--partner <code>', 'whose audit chain, e.g. MK')
    .option(
      '--nkey <file>',
      "an nkey seed file to authenticate with (e.g. the gateway's <data>/nats-access/gateway.nkey)",
    )
    .option('--recipient <code>', 'only disclosures to this partner')
    .option('--from <date>', 'only disclosures at or after, YYYY-MM-DD or ISO timestamp')
    .option('--to <date>', 'only disclosures before, YYYY-MM-DD or ISO timestamp')
    .option('--json', 'one JSON object per row')
    .option(
      '--subject <ref>',
      "every disclosure of the partner's events about this subject reference (64 hex), from the verified chain",
    )
    .option('--received', 'with --subject: what the partner received about the subject (its WBX_INBOX)')
    .option('--format <format>', 'with --subject: jsonl (default) or table')
    .option('--manifest <file>', 'with --subject: the signed federation manifest (checkpoint keys)')
    .option('--anchor <file>', "with --subject: the gateway's audit anchor the chain must hold")
    .option(
      '--agreements <dir>',
      'with --received: the agreements directory, to name agreements and purposes',
    )
    .action(async (opts: AuditReportOptions) => {
      result.exitCode = await auditReportCommand(io, opts);
    });
}
