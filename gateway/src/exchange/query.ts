import { isAscii } from 'node:buffer';
import { createHash, randomUUID } from 'node:crypto';

import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import {
  grantUnder,
  inForce,
  isWhereField,
  matchesWhere,
  type Purpose,
  type RecipientGrant,
  type RecordsTerm,
  type Where,
  type WhereValue,
} from '@wbx/agreements';
import { appendCovering } from '@wbx/audit';
import type { QueryEvent, QueryRequest, QueryResponse } from '@wbx/proto';
import { parseTimestamp, PERSON_ATTRIBUTES, PERSON_FIELDS } from '@wbx/schema';
import { holdToken } from '@wbx/seal';

import type { LoadedAgreement } from '../agreement-set.js';
import { EVENTS_STREAM } from '../nats-layout.js';
import { currentVersion, type RecordChanges, type RecordState } from '../record-changes.js';
import type { ExchangeContext } from './access.js';
import { ExchangeError } from './errors.js';
import { OwnPresenter, parseOwnToken, type OwnToken } from './own-presenter.js';
import { subjectRefsOf, type Pseudonyms } from './pseudonyms.js';
import { ResumeTokens } from './resume-token.js';

export const QUERY_PAGE_DEFAULT = 10_000;
export const QUERY_PAGE_MAX = 1_000_000;
/** Events audited and then sent together (one message; per type one audit entry, split at its cap). */
const BATCH = 256;
/**
 * …and at most about this many bytes of presentations in one message, so that a batch of large events
 * (a token may reach 64 KiB) stays well under the 4 MiB a gRPC client receives by default.
 */
const BATCH_BYTES = 1024 * 1024;
const SUBJECT_REF_PATHS = new Set(PERSON_FIELDS.map((f) => `${f}.subjectRef`));
const OCCURRED_AT = 'occurredAt';

/**
 * The disclosure paths of a presentation for `granted`: the origin's own subject reference never goes
 * out through Exchange (a person container granted whole is narrowed to its other attributes); where the
 * grant includes it, the keyed reference goes out beside the presentation instead (`keyRefs`).
 */
export function presentationPaths(granted: readonly string[]): { paths: string[]; keyRefs: boolean } {
  let keyRefs = false;
  const paths = granted.flatMap((p) => {
    if (PERSON_FIELDS.includes(p)) {
      keyRefs = true;
      return PERSON_ATTRIBUTES.filter((a) => a !== 'subjectRef').map((a) => `${p}.${a}`);
    }
    if (SUBJECT_REF_PATHS.has(p)) {
      keyRefs = true;
      return [];
    }
    return [p];
  });
  return { paths: [...new Set(paths)], keyRefs };
}

/** A checked query: what to return, where to start, and the hash that binds resume tokens to it. */
export interface QueryPlan {
  readonly types: ReadonlySet<string>;
  /** occurredAt in [from, to); `bounded` when either was given (then only on events disclosing it). */
  readonly from: number;
  readonly to: number;
  readonly bounded: boolean;
  readonly where: Where;
  readonly pageSize: number;
  /** As the caller sent it ('' from the start); opened by runQuery, which holds the key. */
  readonly resumeToken: string;
  readonly hash: string;
}

const invalid = (path: string, message: string): ExchangeError =>
  new ExchangeError('INVALID_REQUEST', `${path}: ${message}`, `${path}: ${message}`, [
    { path, code: 'INVALID_REQUEST', message },
  ]);

function recordsTerms(agreement: LoadedAgreement, type?: string): RecordsTerm[] {
  return agreement.body.terms.filter(
    (t): t is RecordsTerm =>
      t.mode === 'records' && (type === undefined || (t.types as readonly string[]).includes(type)),
  );
}

function time(value: string | undefined, path: string): number | undefined {
  if (value === undefined) return undefined;
  const t = parseTimestamp(value) ?? Date.parse(value);
  if (!Number.isFinite(t)) throw invalid(path, 'not a timestamp');
  return t;
}

/**
 * Checks a QueryRequest against the agreement: types it covers, conditions only on disclosed fields, time
 * bounds only where occurredAt is disclosed for every type of the query.
 */
export function planQuery(req: QueryRequest, agreement: LoadedAgreement): QueryPlan {
  const covered = new Set(recordsTerms(agreement).flatMap((t) => t.types as readonly string[]));
  const types = req.types.length === 0 ? covered : new Set(req.types);
  if (types.size === 0) {
    throw new ExchangeError(
      'TYPE_NOT_AGREED',
      'the agreement shares no records',
      `agreement ${agreement.body.id} has no records terms`,
    );
  }
  for (const t of types) {
    if (!covered.has(t))
      throw new ExchangeError(
        'TYPE_NOT_AGREED',
        `the agreement does not cover ${t} records`,
        `type ${t} is not in a records term of ${agreement.body.id}`,
      );
  }
  const from = time(req.from, 'from') ?? -Infinity;
  const to = time(req.to, 'to') ?? Infinity;
  if (from >= to) throw invalid('to', 'must be after from');
  const bounds = [...(req.from === undefined ? [] : ['from']), ...(req.to === undefined ? [] : ['to'])];
  // A bound is a condition on occurredAt: refused where it is withheld, else a binary search reads it.
  for (const t of bounds.length === 0 ? [] : types) {
    if (!recordsTerms(agreement, t).some((term) => term.fields.includes(OCCURRED_AT))) {
      const violations = bounds.map((path) => ({
        path,
        code: 'TIME_BOUND_NOT_DISCLOSED',
        message: `the agreement does not disclose ${OCCURRED_AT} of ${t}`,
      }));
      throw new ExchangeError(
        'TIME_BOUND_NOT_DISCLOSED',
        `${bounds.join(', ')}: a time bound is not allowed`,
        `${bounds.join(', ')}: ${agreement.body.id} does not disclose ${OCCURRED_AT} for ${t}`,
        violations,
      );
    }
  }
  const where: Record<string, WhereValue[]> = {};
  for (const [field, list] of Object.entries(req.where).sort(([a], [b]) => (a < b ? -1 : 1))) {
    const values = list.values;
    if (values.length === 0) throw invalid(`where.${field}`, 'needs at least one value');
    for (const t of types) {
      const disclosed = recordsTerms(agreement, t).some((term) => term.fields.includes(field));
      if (!isWhereField(t, field) || !disclosed) {
        throw new ExchangeError(
          'WHERE_FIELD_NOT_DISCLOSED',
          `a condition on ${field} is not allowed`,
          `where.${field}: not a field ${agreement.body.id} discloses for ${t} that a condition can test`,
        );
      }
    }
    where[field] = values.map((v) => (v === 'true' ? true : v === 'false' ? false : v));
  }
  const pageSize = req.pageSize === 0 ? QUERY_PAGE_DEFAULT : req.pageSize;
  if (pageSize > QUERY_PAGE_MAX) throw invalid('pageSize', `must be at most ${QUERY_PAGE_MAX}`);
  const hash = createHash('sha256')
    .update(
      JSON.stringify([
        agreement.body.id,
        req.purpose,
        [...types].sort(),
        req.from ?? '',
        req.to ?? '',
        where,
      ]),
    )
    .digest('base64url')
    .slice(0, 22);
  return { types, from, to, bounded: bounds.length > 0, where, pageSize, resumeToken: req.resumeToken, hash };
}

/** Where the answer goes: resolves when the client can take more; `cancelled` ends the scan. */
export interface QuerySink {
  write(message: QueryResponse): Promise<void>;
  readonly cancelled: boolean;
}

export interface QueryDeps {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly pseudonyms: Pseudonyms;
  /** Corrections and withdrawals: a withdrawn event is never returned, a corrected one as corrected. */
  readonly changes?: RecordChanges | undefined;
}

/** An event chosen for the answer; its resume token ('' until then) is made with its batch's. */
interface Pending {
  readonly event: QueryEvent;
  readonly seq: number;
  readonly paths: readonly string[];
}

/**
 * Streams the events of WBX_EVENTS (as of the call; later ones are for the next page) that the plan and
 * the agreement select, each as a presentation through the policy engine, in stream order and in
 * batches. Every batch is audited (one entry per type, listing its event ids) before it is sent, while
 * the next batch is being read; the last message says whether more may follow and how to resume.
 *
 * Nothing in the answer depends on events the caller may not see: resume tokens are opaque and made
 * only from the sequences of returned events (the closing one resumes after the last event returned,
 * not after the last one scanned), and `more` says only that the page is full.
 */
export async function runQuery(
  ctx: ExchangeContext,
  deps: QueryDeps,
  caller: string,
  agreement: LoadedAgreement,
  purpose: Purpose,
  plan: QueryPlan,
  sink: QuerySink,
): Promise<void> {
  const tokens = new ResumeTokens(deps.pseudonyms, agreement.body.id, plan.hash);
  const after = plan.resumeToken === '' ? 0 : tokens.open(plan.resumeToken);
  if (after === undefined) {
    throw new ExchangeError(
      'BAD_RESUME_TOKEN',
      'the resume token does not belong to this query',
      `resume token ${plan.resumeToken.slice(0, 80)} does not open for query ${plan.hash} under ${agreement.body.id}`,
      [{ path: 'resumeToken', code: 'BAD_RESUME_TOKEN', message: 'not a token of this query' }],
    );
  }
  const { state } = await deps.jsm.streams.info(EVENTS_STREAM);
  const last = state.last_seq;
  let scanned = after;
  /** The sequence of the last event returned: where the next page goes on. */
  let resumeAfter = after;
  let returned = 0;
  let batch: Pending[] = [];
  let batchBytes = 0;
  let sending: Promise<void> = Promise.resolve();
  const queryId = randomUUID();
  const now = ctx.now();
  const grants = fixedGrants(agreement, ctx.partner, purpose, now, plan.types);
  const fixed = fixedTypes(plan, grants);
  const selection: Selection = { ctx, deps, agreement, purpose, plan, now, grants, fixed };
  const send = async (items: readonly Pending[]): Promise<void> => {
    const byType = new Map<string, Pending[]>();
    for (const p of items) {
      const list = byType.get(p.event.type);
      if (list === undefined) byType.set(p.event.type, [p]);
      else list.push(p);
    }
    const resumeTokens = tokens.sealAll(items.map((p) => p.seq));
    await Promise.all(
      [...byType].map(([type, list]) =>
        appendCovering(ctx.audit, {
          recipient: caller,
          agreementId: agreement.body.id,
          eventId: queryId,
          eventType: type,
          paths: pathsOf(list),
          mode: 'query',
          purpose,
          eventIds: list.map((p) => p.event.eventId),
        }),
      ),
    );
    if (!sink.cancelled) {
      const events = items.map((p, i) => {
        p.event.resumeToken = resumeTokens[i] ?? '';
        return p.event;
      });
      await sink.write({ events });
    }
  };
  const flush = async (): Promise<void> => {
    // A revocation (or expiry) while the query runs ends it before the next batch goes out.
    const current = ctx.agreements().find((a) => a.body.id === agreement.body.id);
    if (current === undefined || !inForce(current, ctx.now().getTime())) {
      throw new ExchangeError(
        'AGREEMENT_NOT_IN_FORCE',
        'the agreement is not in force',
        `agreement ${agreement.body.id} ended during a query`,
      );
    }
    const items = batch;
    batch = [];
    batchBytes = 0;
    await sending; // in order: the previous batch is audited and sent first
    sending = send(items);
    sending.catch(() => undefined); // a failure surfaces where it is awaited (next batch or the end)
  };
  if (scanned < last && state.messages > 0) {
    const changed = (await deps.changes?.snapshot()) ?? new Map<string, RecordState>();
    const start = Math.max(scanned + 1, state.first_seq);
    const consumer = await deps.js.consumers.get(EVENTS_STREAM, { opt_start_seq: start });
    const messages = await consumer.consume({ max_messages: 4_096 });
    try {
      for await (const m of messages) {
        const seq = m.seq;
        scanned = seq;
        // Without changes every message is its own current version: no need to wait a turn for it.
        const token = changed.size === 0 ? textOf(m.data) : await currentVersion(deps.changes, changed, m);
        const event = token === undefined ? undefined : select(selection, token, seq);
        if (event !== undefined) {
          resumeAfter = seq;
          batch.push(event);
          batchBytes += event.event.presentation.length;
          returned += 1;
        }
        if (batch.length >= BATCH || batchBytes >= BATCH_BYTES) await flush();
        if (sink.cancelled || returned >= plan.pageSize || scanned >= last || m.info.pending === 0) break;
      }
    } finally {
      await messages.close().catch(() => undefined);
    }
  }
  if (batch.length > 0) await flush();
  await sending;
  if (isCancelled(sink)) return;
  await sink.write({
    events: [],
    end: { returned, more: returned >= plan.pageSize, resumeToken: tokens.seal(resumeAfter) },
  });
}

/** What one query needs to decide about each event, fixed at its start. */
interface Selection {
  readonly ctx: ExchangeContext;
  readonly deps: QueryDeps;
  readonly agreement: LoadedAgreement;
  readonly purpose: Purpose;
  readonly plan: QueryPlan;
  readonly now: Date;
  /** The grant for types whose terms have no where-conditions: the same for every event of the type. */
  readonly grants: ReadonlyMap<string, RecipientGrant | undefined>;
  /** Per type with a fixed grant: how to present its events, or null when none is returned. */
  readonly fixed: ReadonlyMap<string, FixedType | null>;
}

/** A type whose grant is fixed and lets its events through (save for the bound and conditions). */
interface FixedType {
  readonly grant: RecipientGrant;
  readonly presenter: OwnPresenter;
  readonly keyRefs: boolean;
}

/** The disclosure paths audited for a batch of one type: each once. */
function pathsOf(list: readonly Pending[]): string[] {
  const paths = new Set<string>();
  let last: readonly string[] | undefined;
  for (const p of list) {
    if (p.paths === last) continue; // a fixed grant: the same list for every event of its type
    last = p.paths;
    for (const path of p.paths) paths.add(path);
  }
  return [...paths];
}

/**
 * What `select` decides once per type with a fixed grant: nothing of the type is returned without a grant,
 * under a time bound when occurredAt is withheld, or under a condition on a withheld field.
 */
function fixedTypes(
  plan: QueryPlan,
  grants: ReadonlyMap<string, RecipientGrant | undefined>,
): Map<string, FixedType | null> {
  const out = new Map<string, FixedType | null>();
  const claimNames = [...Object.keys(plan.where), ...(plan.bounded ? [OCCURRED_AT] : [])];
  for (const [type, grant] of grants) {
    const withheld =
      grant === undefined ||
      grant.paths.length === 0 ||
      (plan.bounded && !grant.paths.includes(OCCURRED_AT)) ||
      Object.keys(plan.where).some((field) => !grant.paths.includes(field));
    if (withheld) {
      out.set(type, null);
      continue;
    }
    const { paths, keyRefs } = presentationPaths(grant.paths);
    out.set(type, { grant, presenter: new OwnPresenter(paths, claimNames), keyRefs });
  }
  return out;
}

/** The grants that do not depend on an event's values (no where-conditions on the type's terms). */
function fixedGrants(
  agreement: LoadedAgreement,
  partner: string,
  purpose: Purpose,
  now: Date,
  types: ReadonlySet<string>,
): Map<string, RecipientGrant | undefined> {
  const out = new Map<string, RecipientGrant | undefined>();
  for (const type of types) {
    const terms = agreement.body.terms.filter((t) => (t.types as readonly string[]).includes(type));
    if (terms.some((t) => t.where !== undefined)) continue;
    out.set(type, grantUnder(agreement, { type, origin: partner, claims: {} }, purpose, now));
  }
  return out;
}

const FALLBACK = Symbol('fallback');

/** The event of `token` as the query returns it, or undefined when it is not returned. */
function select(sel: Selection, token: string, seq: number): Pending | undefined {
  const own = parseOwnToken(token);
  if (own !== undefined) {
    if (!sel.plan.types.has(own.type)) return undefined;
    const fixed = sel.fixed.get(own.type);
    if (fixed === null) return undefined;
    if (fixed !== undefined) {
      const picked = selectFixed(sel, fixed, own, seq);
      if (picked !== FALLBACK) return picked;
    }
  }
  return selectHeld(sel, token, seq);
}

/** `selectHeld` for a type with a fixed grant, parsing only what it keeps; FALLBACK for an unusual token. */
function selectFixed(
  sel: Selection,
  fixed: FixedType,
  own: OwnToken,
  seq: number,
): Pending | undefined | typeof FALLBACK {
  const { plan, deps, agreement } = sel;
  const prepared = fixed.presenter.prepare(own);
  if (prepared === undefined) return FALLBACK;
  const { claims } = prepared;
  if (plan.bounded) {
    const occurred = parseTimestamp(claims.occurredAt as string) ?? NaN;
    if (!(occurred >= plan.from && occurred < plan.to)) return undefined;
  }
  if (!matchesWhere(plan.where, claims)) return undefined;
  const presentation = prepared.presentation();
  const refs = fixed.keyRefs ? prepared.subjectRefs() : [];
  if (presentation === undefined || refs === undefined) return FALLBACK;
  const id = agreement.body.id;
  return {
    paths: fixed.grant.paths,
    seq,
    event: {
      eventId: own.eventId,
      type: own.type,
      presentation,
      subjectRefs: refs.map((r) => (r === '' ? '' : deps.pseudonyms.keyed(id, r))),
      resumeToken: '',
    },
  };
}

/** Any event: held (parsed whole) by `holdToken`, its grant decided on its claims. */
function selectHeld(sel: Selection, token: string, seq: number): Pending | undefined {
  const { ctx, deps, agreement, purpose, plan, now, grants } = sel;
  const own = holdToken(token, Number.MAX_SAFE_INTEGER);
  const { claims, eventId, type } = own;
  if (!plan.types.has(type)) return undefined;
  const grant = grants.has(type)
    ? grants.get(type)
    : grantUnder(agreement, { type, origin: ctx.partner, claims }, purpose, now);
  if (grant === undefined || grant.paths.length === 0) return undefined;
  if (plan.bounded) {
    // Like a condition: only on events whose grant discloses occurredAt, else a bound finds a withheld time.
    if (!grant.paths.includes(OCCURRED_AT)) return undefined;
    const occurred = parseTimestamp(claims.occurredAt as string) ?? NaN;
    if (!(occurred >= plan.from && occurred < plan.to)) return undefined;
  }
  // A condition only on what this event's grant discloses: else the answer would tell a withheld value.
  for (const field of Object.keys(plan.where)) if (!grant.paths.includes(field)) return undefined;
  if (!matchesWhere(plan.where, claims)) return undefined;
  const { paths, keyRefs } = presentationPaths(grant.paths);
  const subjectRefs = keyRefs
    ? subjectRefsOf(claims).map((r) => (r === '' ? '' : deps.pseudonyms.keyed(agreement.body.id, r)))
    : [];
  const presentation = own.present(paths);
  return { paths: grant.paths, seq, event: { eventId, type, presentation, subjectRefs, resumeToken: '' } };
}

const UTF8 = new TextDecoder();

/** A message's text as `m.string()` gives it: a token is ASCII, which decodes faster than UTF-8. */
function textOf(data: Uint8Array): string {
  return isAscii(data)
    ? Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1')
    : UTF8.decode(data);
}

/** Read again after an await: the client may have gone meanwhile. */
function isCancelled(sink: QuerySink): boolean {
  return sink.cancelled;
}
