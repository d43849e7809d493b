import { readFile } from 'node:fs/promises';

import {
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstreamManager,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { connect, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { checkReceived } from '@wbx/agreements';
import {
  AUDIT_STREAM,
  decodeAuditEntry,
  readAudit,
  verifyAuditChain,
  type AuditAnchor,
  type AuditMessage,
  type DisclosureEntry,
} from '@wbx/audit';
import { loadAgreements, type LoadedAgreement } from '@wbx/gateway';
import type { ManifestBody } from '@wbx/registry';
import { readOwnSealedEvent, type VerifiedEvent } from '@wbx/seal';
import { pino } from 'pino';

import { CliError } from './errors.js';
import { write, type CliIo } from './io.js';
import { Progress } from './progress.js';
import { renderTable } from './table.js';

/** A pseudonymous subject reference as events carry it: 64 lowercase hex (a keyed hash). */
const SUBJECT_REF_RE = /^[0-9a-f]{64}$/;

const EVENTS_STREAM = 'WBX_EVENTS';
const INBOX_STREAM = 'WBX_INBOX';

/** One disclosure of an event about the subject, by the origin: one line of the report. */
export interface SubjectDisclosureRow {
  /** When it was disclosed (the audit entry's time). */
  readonly at: string;
  /** The audit entry's position in the origin's chain. */
  readonly chainSeq: number;
  readonly recipient: string;
  readonly agreementId: string;
  readonly purpose?: string;
  /** records (shared over NATS), aggregate, query (an Exchange answer) or match (a hit). */
  readonly mode: string;
  readonly eventId: string;
  readonly eventType: string;
  /** The fields disclosed (the audit entry's paths). */
  readonly paths: readonly string[];
}

/** One record about the subject the partner received, from its inbox: one line of `--received`. */
export interface SubjectReceivedRow {
  /** When WBX_INBOX stored it. */
  readonly at: string;
  readonly origin: string;
  /** The agreements in force now that cover it (with `--agreements`; else empty). */
  readonly agreementIds: readonly string[];
  readonly purposes: readonly string[];
  readonly eventId: string;
  readonly eventType: string;
  /** The fields the presentation discloses. */
  readonly paths: readonly string[];
}

export interface SubjectReportOptions {
  readonly url: string;
  readonly nkey: string | undefined;
  readonly partner: string;
  readonly subject: string;
  readonly format: 'jsonl' | 'table';
  /** The manifest the chain's checkpoints (or, with `--received`, the agreements) verify against. */
  readonly manifest: ManifestBody | undefined;
  readonly anchor: AuditAnchor | undefined;
  /** Recipient: report what was received (WBX_INBOX) instead of what was disclosed. */
  readonly received: boolean;
  readonly agreementsDir: string | undefined;
}

/** The subject reference `--subject` names; USAGE unless it is 64 lowercase hex. */
export function subjectRefOption(value: string): string {
  if (!SUBJECT_REF_RE.test(value)) {
    throw new CliError('USAGE', '--subject: not a subject reference (64 lowercase hexadecimal characters)');
  }
  return value;
}

/** Whether any `subjectRef` claim, at any depth (persons, person, …), equals `ref`. */
function mentions(value: unknown, ref: string): boolean {
  if (Array.isArray(value)) return value.some((v) => mentions(v, ref));
  if (value === null || typeof value !== 'object') return false;
  for (const [k, v] of Object.entries(value)) {
    if (k === 'subjectRef' ? v === ref : mentions(v, ref)) return true;
  }
  return false;
}

/** One message as {@link readStream} yields it. */
interface StreamMessage {
  readonly seq: number;
  readonly subject: string;
  readonly data: string;
  readonly time: Date;
}

/** The messages of `stream` present when the read starts, in order (an ordered consumer). */
async function* readStream(
  jsm: JetStreamManager,
  stream: string,
  filter: string,
): AsyncGenerator<StreamMessage> {
  let last: number;
  try {
    const info = await jsm.streams.info(stream);
    if (info.state.messages === 0) return;
    last = info.state.last_seq;
  } catch (e) {
    if (e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound) {
      throw new CliError('NOT_FOUND', `no stream ${stream} there`, { cause: e });
    }
    throw e;
  }
  const consumer = await jsm.jetstream().consumers.get(stream, {
    filter_subjects: filter,
    deliver_policy: DeliverPolicy.All,
  });
  const messages = await consumer.consume({ max_messages: 1000 });
  try {
    for await (const m of messages) {
      yield {
        seq: m.seq,
        subject: m.subject,
        data: m.string(),
        time: new Date(Math.floor(m.info.timestampNanos / 1_000_000)),
      };
      if (m.seq >= last || m.info.pending === 0) break;
    }
  } finally {
    await messages.close();
  }
}

/**
 * The sealed events read from `stream` (as {@link readStream}) whose claims mention `ref`, each with its
 * message; a message that is not a readable sealed event is skipped. Ticks `progress` per message.
 */
async function* eventsMentioning(
  jsm: JetStreamManager,
  stream: string,
  filter: string,
  ref: string,
  progress: Progress,
): AsyncGenerator<{ m: StreamMessage; event: VerifiedEvent }> {
  for await (const m of readStream(jsm, stream, filter)) {
    progress.tick();
    let event;
    try {
      event = readOwnSealedEvent(m.data);
    } catch {
      continue;
    }
    if (mentions(event.claims, ref)) yield { m, event };
  }
}

/** The ids and types of the origin's own events (WBX_EVENTS) that mention the subject. */
async function subjectEvents(
  jsm: JetStreamManager,
  origin: string,
  ref: string,
  progress: Progress,
): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  const filter = `wbx.evt.${origin}.>`;
  for await (const { event } of eventsMentioning(jsm, EVENTS_STREAM, filter, ref, progress)) {
    found.set(event.eventId, event.type);
  }
  return found;
}

/**
 * The origin's disclosures of events about `ref`: its audit chain is verified first (fail closed: a chain
 * that does not verify ends the report with AUDIT_CHAIN_BROKEN and no rows); then every disclosure entry
 * (shared records, aggregates, Query answers, Match hits; not refusals, which disclose nothing) that
 * names one of the subject's events gives one row per such event — and only those: the other events an
 * entry names are not reported.
 */
async function disclosures(
  jsm: JetStreamManager,
  options: SubjectReportOptions,
  progress: Progress,
): Promise<SubjectDisclosureRow[]> {
  const { partner: origin, manifest, anchor, subject } = options;
  if (manifest === undefined) throw new CliError('USAGE', '--subject needs --manifest to verify the chain');
  const chain: (AuditMessage & { data: Uint8Array })[] = [];
  try {
    for await (const m of readAudit(jsm, origin)) {
      progress.tick();
      chain.push(m);
    }
  } catch (e) {
    if (e instanceof Error && 'code' in e && e.code === 'STREAM_NOT_FOUND') {
      throw new CliError('NOT_FOUND', `no stream ${AUDIT_STREAM} there`, { cause: e });
    }
    throw e;
  }
  const verdict = await verifyAuditChain(chain, manifest, origin, anchor === undefined ? {} : { anchor });
  if (!verdict.ok) {
    const b = verdict.firstBroken;
    throw new CliError(
      'AUDIT_CHAIN_BROKEN',
      `${origin}'s audit chain does not verify at entry ${b.seq} (stream seq ${b.streamSeq}): ` +
        `${b.reason}: ${b.detail}; no report from a chain that cannot be trusted`,
    );
  }
  const events = await subjectEvents(jsm, origin, subject, progress);
  const rows: SubjectDisclosureRow[] = [];
  for (const m of chain) {
    const entry = decodeAuditEntry(m.data);
    if (entry.kind !== 'disclosure' || entry.mode === 'denied') continue;
    for (const eventId of entry.eventIds ?? [entry.eventId]) {
      const type = events.get(eventId);
      if (type !== undefined) rows.push(disclosureRow(entry, eventId, type));
    }
  }
  return rows;
}

function disclosureRow(e: DisclosureEntry, eventId: string, eventType: string): SubjectDisclosureRow {
  return {
    at: e.at,
    chainSeq: e.seq,
    recipient: e.recipient,
    agreementId: e.agreementId,
    ...(e.purpose === undefined ? {} : { purpose: e.purpose }),
    mode: e.mode,
    eventId,
    eventType,
    paths: e.paths,
  };
}

/** What the partner received about `ref` (WBX_INBOX), with the agreements in force that cover it. */
async function received(
  jsm: JetStreamManager,
  options: SubjectReportOptions,
  io: CliIo,
  progress: Progress,
): Promise<SubjectReceivedRow[]> {
  const { partner, subject, agreementsDir, manifest } = options;
  if (agreementsDir !== undefined && manifest === undefined) {
    throw new CliError('USAGE', '--agreements needs --manifest to verify them');
  }
  const agreements: LoadedAgreement[] =
    agreementsDir === undefined || manifest === undefined
      ? []
      : await loadAgreements(agreementsDir, manifest, partner, io.now(), pino({ level: 'silent' }));
  const rows: SubjectReceivedRow[] = [];
  for await (const { m, event } of eventsMentioning(jsm, INBOX_STREAM, 'wbx.in.>', subject, progress)) {
    const origin = m.subject.split('.')[2] ?? event.issuer;
    const verdict = checkReceived(agreements, partner, {
      origin,
      type: event.type,
      iat: event.issuedAt.getTime() / 1000,
      claims: event.claims,
      disclosed: event.disclosed,
    });
    const agreementIds = verdict.ok ? verdict.agreementIds : [];
    const purposes = agreements
      .filter((a) => agreementIds.includes(a.body.id))
      .flatMap((a) => a.body.purposes);
    rows.push({
      at: m.time.toISOString(),
      origin,
      agreementIds,
      purposes: [...new Set(purposes)].sort(),
      eventId: event.eventId,
      eventType: event.type,
      paths: [...event.disclosed].sort(),
    });
  }
  return rows;
}

async function connectTo(url: string, nkey: string | undefined): Promise<NatsConnection> {
  try {
    const seed = nkey === undefined ? undefined : (await readFile(nkey, 'utf8')).trim();
    return await connect({
      servers: url,
      name: 'wbx-audit-subject',
      timeout: 10_000,
      ...(seed === undefined ? {} : { authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)) }),
    });
  } catch (e) {
    throw new CliError('UNREACHABLE', `cannot connect to ${url}: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * `wbx audit report --subject REF`: every disclosure of the origin's events about one pseudonymous
 * subject (to whom, when, which fields, under which agreement and purpose, shares, Query and Match
 * answers), from its verified audit chain; with `--received`, what the partner received about it. JSON
 * lines, or a table with `--format table`. Exit 0 (also with no rows), 1 on a chain that does not verify.
 */
export async function subjectReport(io: CliIo, options: SubjectReportOptions): Promise<number> {
  const nc = await connectTo(options.url, options.nkey);
  const progress = new Progress(io.stderr, io.interactive, 'read');
  let rows: (SubjectDisclosureRow | SubjectReceivedRow)[];
  try {
    const jsm = await jetstreamManager(nc);
    rows = options.received
      ? await received(jsm, options, io, progress)
      : await disclosures(jsm, options, progress);
  } finally {
    progress.done();
    await nc.close();
  }
  if (options.format === 'jsonl') {
    for (const row of rows) await write(io.stdout, `${JSON.stringify(row)}\n`);
  } else if (options.received) {
    const header = ['RECEIVED', 'ORIGIN', 'AGREEMENTS', 'PURPOSES', 'TYPE', 'EVENT', 'FIELDS'];
    const cells = (rows as SubjectReceivedRow[]).map((r) => [
      r.at,
      r.origin,
      r.agreementIds.join(', ') || '-',
      r.purposes.join(', ') || '-',
      r.eventType,
      r.eventId,
      r.paths.join(', ') || '-',
    ]);
    await write(io.stdout, `${renderTable(header, cells)}\n`);
  } else {
    const header = ['AT', 'RECIPIENT', 'AGREEMENT', 'PURPOSE', 'MODE', 'TYPE', 'EVENT', 'FIELDS'];
    const cells = (rows as SubjectDisclosureRow[]).map((r) => [
      r.at,
      r.recipient,
      r.agreementId,
      r.purpose ?? '-',
      r.mode,
      r.eventType,
      r.eventId,
      r.paths.join(', ') || '-',
    ]);
    await write(io.stdout, `${renderTable(header, cells)}\n`);
  }
  const what = options.received ? 'records received' : 'disclosures';
  await write(io.stderr, `${rows.length.toLocaleString('en')} ${what} about the subject\n`);
  return 0;
}
