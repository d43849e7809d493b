import { createHash } from 'node:crypto';

import { JetStreamApiCodes, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import {
  addKey,
  aggregate,
  basisOf,
  controlOf,
  firstVintage,
  periodBounds,
  reviseVintage,
  type AggregateCell,
  type AggregateGrant,
  type AggregateTerm,
  type AggregateVintage,
  type LinkedTable,
  type PolicyEvent,
  type ProtectedCell,
  type StatsAggregateBody,
} from '@wbx/agreements';
import type { AuditSink } from '@wbx/audit';
import { uuidV7, validateEvent, type EventType } from '@wbx/schema';
import type { Sealer } from '@wbx/seal';
import type { Logger } from 'pino';

import { AuditedDisclosures, disclosureKey } from './audited-disclosures.js';
import { KeyedBatches } from './keyed-batches.js';
import { shareStream, shareSubject } from './nats-layout.js';

/**
 * The counted events of a period are spread over this many shard documents (by event id), so that no
 * document outgrows a KV value and replicas rarely update the same one at once.
 */
const SHARDS = 16;
/** A vintage claimed but not marked published after this long is published again by any replica. */
const CLAIM_LEASE_MS = 60_000;
/** Besides the periods this replica counted into, all periods in `wbx_state` are looked at this often. */
const FULL_SCAN_MS = 60_000;

/**
 * The tables published of the same events (`aggl.<hash>`): one origin's aggregates of one source type and
 * period whose terms have the same where-conditions and unit (persons or events), whatever the agreement
 * or recipient. A recipient holding two of them could subtract one's margins from the other's; each is
 * protected against those before it (secondary suppression, `protectTable`), and the document is written
 * by compare-and-set, so two replicas never protect two tables against each other's absence.
 */
interface LinkDoc {
  /** By period hash: the vintage last claimed of that table, as published and the counts behind it. */
  readonly tables: Record<string, LinkedEntry>;
}

interface LinkedEntry {
  readonly vintage: number;
  readonly dimensions: string[];
  readonly minCell: number;
  /** The cells as published (rounded, noisy, suppressed with count 0). */
  readonly published: AggregateCell[];
  /** Per cell, the true count its published cell was made from. */
  readonly basis: Record<string, number>;
}

/** A table entered in a link document, as `protectTable` takes it: its cells with their true counts. */
function linkedTable(entry: LinkedEntry): LinkedTable {
  const cells: ProtectedCell[] = entry.published.map((c) => ({
    values: c.values,
    count: entry.basis[JSON.stringify(c.values)] ?? c.count,
    suppressed: c.suppressed,
  }));
  return { dimensions: entry.dimensions, cells, minCell: entry.minCell };
}

/** What identifies a period of an aggregate term, stored in each of its documents. */
interface PeriodRef {
  readonly recipient: string;
  readonly agreementId: string;
  readonly termIndex: number;
  readonly term: AggregateTerm;
  readonly sourceType: EventType;
  readonly period: string;
  readonly start: number;
  readonly end: number;
}

/**
 * One shard of a period (`agg.<period hash>.s<n>`): the counts per cell of the events whose ids it holds.
 * Counts and ids change together in one compare-and-set, so they cannot disagree.
 */
interface ShardDoc extends PeriodRef {
  /** Count per cell, by the JSON of the cell's values. */
  readonly counts: Record<string, number>;
  /**
   * The ids of the events counted here, for the period's whole life. Not trimmed after publication: an
   * event may be delivered again at any time until its acknowledgement is stored (a replica killed after
   * counting it, a consumer recreated, a gateway down for days), and one whose id was dropped would be
   * counted twice; the revision of published periods and `events` rely on them too. They are read into a
   * Set once per compare-and-set, which counts every event waiting for the shard (see `addToShard`).
   */
  readonly ids: string[];
  /** When an event was last counted here (ms). */
  readonly lastAdded: number;
  /** The ids of the events taken out again (withdrawn, or replaced by a correction); still in `ids`. */
  readonly out?: string[];
  /** Under a term with `noise: cell-key`: per cell, the sum of its events' record keys mod 2³². */
  readonly keys?: Record<string, number>;
}

/** One event to count into a shard document: its cells (unsuppressed) under the period `ref`. */
interface ShardAdd {
  readonly ref: PeriodRef;
  readonly periodId: string;
  readonly eventId: string;
  readonly cells: readonly AggregateCell[];
  /** Its record key, under a term with `noise: cell-key` (see {@link AggregatorOptions.recordKey}). */
  readonly recordKey?: number;
}

/** How the aggregator's compare-and-sets went since it started (see {@link Aggregator.casStats}). */
export interface AggregateCasStats {
  /** Shard and publication documents written (each one compare-and-set that succeeded). */
  readonly writes: number;
  /** Compare-and-sets that lost to another writer and were read and applied again. */
  readonly conflicts: number;
  /** Events counted into shard documents (not counting those already there). */
  readonly counted: number;
}

/** The published vintages of a period (`agg.<period hash>.pub`). */
interface PubDoc {
  /** The vintage claimed last: 1 for the first publication, 2… for revisions after late events. */
  readonly vintage: number;
  /**
   * How many events were counted when it was last looked at: those of the vintage, and any counted
   * late whose changes were too small to show (no new vintage for them).
   */
  readonly events: number;
  readonly eventId: string;
  /** Its body, so that any replica can finish a publication whose claimer died. */
  readonly body: StatsAggregateBody;
  /** Per cell, the true count its published cell was made from (absent: written before there was one). */
  readonly basis?: Record<string, number>;
  readonly claimedAt: number;
  /** Its audit entry is stored: whoever publishes it, its claimer or another replica, audits it no more. */
  readonly audited?: boolean;
  readonly done: boolean;
}

export interface AggregatorOptions {
  readonly partner: string;
  readonly js: JetStreamClient;
  /** The running counts and the published vintages (`wbx_state`, keys `agg.<…>`). */
  readonly state: KV;
  readonly sealer: Sealer;
  readonly audit: AuditSink;
  readonly log: Logger;
  /** How long after a period ends it is still open for late events; default 1 hour. */
  readonly graceMs?: number;
  /**
   * A closed period is published only when no event was added to it for this long, so that a burst of
   * back-filled events is counted whole; default 2 s.
   */
  readonly settleMs?: number;
  /**
   * The durable consumer that delivers the events counted here (the share worker's `wbx-share` on
   * WBX_EVENTS). When given, a settled period is published only once the consumer's ack floor has passed
   * every event stored in the stream when it settled: each of them was then counted or acknowledged, and
   * none is still held by a replica that died (redelivered only after ack_wait, after the settle time).
   * Events stored later are late: a revised vintage. Without it nothing is waited for.
   */
  readonly source?: { readonly stream: string; readonly consumer: string };
  /**
   * An event's record key for the cell-key method (terms with `noise: cell-key`): an unsigned 32-bit
   * keyed hash of its id, the same on every replica (a secret in the data directory). Without it such
   * terms publish their counts without noise.
   */
  readonly recordKey?: (eventId: string) => number;
  /** How long a claimed vintage may stay unpublished before any replica publishes it; default 60 s. */
  readonly claimLeaseMs?: number;
  /**
   * Tests only: called when an aggregate's audit entry was appended, and when that was noted in its
   * claim; a throw there stands for a replica that dies at that point.
   */
  readonly crashPoint?: (point: 'appended' | 'noted', eventId: string) => void;
}

/** Where the source consumer stood at one flush (see {@link AggregatorOptions.source}). */
interface SourceState {
  /** When it was read (ms): the settle point of the periods that were settled by then. */
  readonly at: number;
  /** The stream's last sequence then: every event stored by then has a sequence up to it. */
  readonly last: number;
  /** Whether every event up to stream sequence `seq` was acknowledged. */
  readonly acked: (seq: number) => boolean;
}

/** A UUIDv7 that is the same for the same aggregate vintage, so that publishing it again is a duplicate. */
function aggregateId(key: string, at: number): string {
  const h = createHash('sha256').update(key).digest('hex');
  return uuidV7(at, `${h.slice(0, 3)}${h.slice(15, 16)}${h.slice(3, 18)}`);
}

const hash = (s: string): string => createHash('sha256').update(s).digest('hex');

/** A compare-and-set that lost: the key changed since it was read (JetStream "wrong last sequence"). */
function isStaleRevision(e: unknown): boolean {
  // Checked by code, not class: the KV client may hold its own copy of the JetStream module.
  const code = (e as { code?: unknown } | null)?.code;
  return (
    code === JetStreamApiCodes.StreamWrongLastSequence ||
    code === JetStreamApiCodes.StreamWrongLastSequenceUnknown
  );
}

/**
 * Aggregate terms: counts the events each covers, per (agreement, term, event type, period) and cell, in
 * `wbx_state` with compare-and-set, and when a period has closed publishes one sealed `stats.aggregate`
 * event for it to the recipient's share stream, cells below minCell suppressed — audited before it is
 * published. Each event is counted once however often it is delivered and whichever replica handles it
 * (its id is recorded with the count in one update); a period is published by one replica (the one whose
 * claim of the vintage succeeds), and audited once: if its claimer dies, another replica publishes it
 * after the claim's lease under the same event id, and audits it only if neither the claim nor the audit
 * chain says it was. Events counted after publication yield a revised vintage, a new
 * `stats.aggregate` under a new event id, and a warning in the log — but in it a cell shows a new count
 * only where its true count moved by at least minCell since the count it was published from
 * (`reviseVintage`): else two vintages would tell apart changes that minCell hides (10 → 11: one person).
 * Where no cell would change, no vintage is issued; the late events wait until, with others, they do.
 */
export class Aggregator {
  /** Periods this replica counted into since their last look at flush, by period hash. */
  private readonly dirty = new Set<string>();
  /** Aggregates audited whose publish has not succeeded yet: a retry does not audit them again. */
  private readonly audited = new Set<string>();
  private lastFullScan = Number.NEGATIVE_INFINITY;
  private flushing: Promise<number> | undefined;
  /** The events in flight per shard document: those waiting for one are counted in one compare-and-set. */
  private readonly shards = new KeyedBatches<ShardAdd>((key, adds) => this.addToShard(key, adds));
  private readonly stats = { writes: 0, conflicts: 0, counted: 0 };
  /** Settled periods waiting for the source's ack floor: the stream sequence it must pass, by hash. */
  private readonly waiting = new Map<string, number>();
  private jsm: Promise<JetStreamManager> | undefined;
  /** The aggregates the audit chain lists, for vintages taken over from a claimer that died. */
  private chain: AuditedDisclosures | undefined;

  constructor(private readonly options: AggregatorOptions) {}

  /** How many compare-and-sets this aggregator made, and lost, since it started. */
  get casStats(): AggregateCasStats {
    return { ...this.stats };
  }

  /** Counts event `eventId` under each grant, once; resolves when the counts are stored. */
  async add(eventId: string, event: PolicyEvent, grants: readonly AggregateGrant[]): Promise<void> {
    const occurred = Date.parse(String(event.claims.occurredAt));
    if (Number.isNaN(occurred)) return;
    await Promise.all(grants.map((grant) => this.addOne(eventId, event, grant, occurred)));
  }

  private async addOne(eventId: string, event: PolicyEvent, grant: AggregateGrant, occurred: number) {
    const add = this.shardAdd(eventId, event, grant, occurred);
    if (add !== undefined) await this.shards.add(add.key, add);
  }

  /**
   * Takes event `eventId` (counted under that id) out of the counts under each grant: a withdrawal, or
   * the version a correction replaces (record-change-share.ts). Its id stays listed, so a redelivery
   * counts it no more, and is noted as taken out (`out`), which makes its period looked at again: a
   * revised vintage follows where the counts moved by minCell (`reviseVintage`). Only an event counted
   * there is taken out, once.
   */
  async remove(eventId: string, event: PolicyEvent, grants: readonly AggregateGrant[]): Promise<void> {
    const occurred = Date.parse(String(event.claims.occurredAt));
    if (Number.isNaN(occurred)) return;
    for (const grant of grants) {
      const add = this.shardAdd(eventId, event, grant, occurred);
      if (add === undefined) continue;
      await this.cas<ShardDoc>(add.key, (doc) => {
        if (doc === undefined || !doc.ids.includes(eventId) || doc.out?.includes(eventId) === true)
          return undefined;
        const counts = { ...doc.counts };
        const keys = { ...doc.keys };
        for (const c of add.cells) {
          const k = JSON.stringify(c.values);
          counts[k] = Math.max(0, (counts[k] ?? 0) - c.count);
          if (add.recordKey !== undefined) keys[k] = addKey(keys[k] ?? 0, add.recordKey, -c.count);
        }
        const noted = add.recordKey === undefined ? {} : { keys };
        return { ...doc, counts, ...noted, out: [...(doc.out ?? []), eventId], lastAdded: Date.now() };
      });
      this.dirty.add(add.periodId);
    }
  }

  /** Where event `eventId` is counted under `grant`, and its cells; undefined when the term excludes it. */
  private shardAdd(
    eventId: string,
    event: PolicyEvent,
    grant: AggregateGrant,
    occurred: number,
  ): (ShardAdd & { key: string }) | undefined {
    const { term } = grant;
    if (!(term.types as readonly string[]).includes(event.type)) return undefined;
    const { period, start, end } = periodBounds(new Date(occurred), term.period);
    // This event's cells, unsuppressed (minCell 0): none when the term's where-conditions exclude it.
    const cells = aggregate({ ...term, minCell: 0 }, event.type as EventType, [event], start).cells;
    if (cells.length === 0) return undefined;
    const ref: PeriodRef = {
      recipient: grant.recipient,
      agreementId: grant.agreementId,
      termIndex: grant.termIndex,
      term,
      sourceType: event.type as EventType,
      period,
      start: start.getTime(),
      end: end.getTime(),
    };
    const periodId = this.periodHash(ref);
    const shard = parseInt(hash(eventId).slice(0, 8), 16) % SHARDS;
    const { recordKey } = this.options;
    const keyed =
      term.noise === 'cell-key' && recordKey !== undefined ? { recordKey: recordKey(eventId) } : {};
    return { key: `agg.${periodId}.s${shard}`, ref, periodId, eventId, cells, ...keyed };
  }

  /**
   * Counts the events waiting for shard document `key` in one compare-and-set: each whose id it does not
   * hold yet, with its id, so that the counts and the ids still change together. Their messages are
   * acknowledged only after this resolves; if it fails, none of them is counted and all are redelivered.
   */
  private async addToShard(key: string, adds: readonly ShardAdd[]): Promise<void> {
    const last = adds.at(-1);
    if (last === undefined) return;
    let counted = 0;
    await this.cas<ShardDoc>(key, (doc) => {
      const held = new Set(doc?.ids);
      const counts = { ...doc?.counts };
      const keys = { ...doc?.keys };
      const added: string[] = [];
      for (const { eventId, cells, recordKey } of adds) {
        if (held.has(eventId)) continue;
        held.add(eventId);
        added.push(eventId);
        for (const c of cells) {
          const k = JSON.stringify(c.values);
          counts[k] = (counts[k] ?? 0) + c.count;
          if (recordKey !== undefined) keys[k] = addKey(keys[k] ?? 0, recordKey, c.count);
        }
      }
      counted = added.length;
      if (added.length === 0) return undefined;
      const out = doc?.out === undefined ? {} : { out: doc.out };
      const noted = Object.keys(keys).length === 0 ? {} : { keys };
      return {
        ...last.ref,
        ...out,
        ...noted,
        counts,
        ids: [...(doc?.ids ?? []), ...added],
        lastAdded: Date.now(),
      };
    });
    this.stats.counted += counted; // of the application that was written (none if nothing was new)
    for (const { periodId } of adds) this.dirty.add(periodId);
  }

  /** The tables of the same events as period `r` (see {@link LinkDoc}). */
  private linkHash(r: PeriodRef): string {
    const where = Object.entries(r.term.where ?? {})
      .map(([k, v]) => [k, [...v].map(String).sort()] as const)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const persons = r.term.dimensions.some((d) => /^persons?\./.test(d));
    return hash(JSON.stringify([r.sourceType, r.period, where, persons])).slice(0, 24);
  }

  private periodHash(r: PeriodRef): string {
    return hash(`${r.agreementId}\u0000${r.termIndex}\u0000${r.sourceType}\u0000${r.period}`).slice(0, 24);
  }

  /** Reads `key`, applies `next` and writes it back if nobody wrote in between; else again. */
  private async cas<T>(key: string, next: (current: T | undefined) => T | undefined): Promise<T | undefined> {
    const { state, log } = this.options;
    for (;;) {
      const entry = await state.get(key);
      const live = entry !== null && entry.operation === 'PUT';
      const current = live ? entry.json<T>() : undefined;
      const value = next(current);
      if (value === undefined) return current;
      const data = JSON.stringify(value);
      try {
        if (live) await state.update(key, data, entry.revision);
        else await state.create(key, data);
        this.stats.writes += 1;
        return value;
      } catch (e) {
        if (!isStaleRevision(e)) throw e;
        this.stats.conflicts += 1;
        log.debug({ key }, 'aggregate state changed meanwhile; compare-and-set again');
      }
    }
  }

  /** Publishes every period that has closed (and settled) by `now`, and revisions; one flush at a time. */
  flush(now: Date): Promise<number> {
    this.flushing ??= this.flushClosed(now).finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async flushClosed(now: Date): Promise<number> {
    let ids: Set<string>;
    if (Date.now() - this.lastFullScan >= FULL_SCAN_MS) {
      ids = new Set();
      for await (const key of await this.options.state.keys('agg.>')) {
        const [, id] = key.split('.');
        if (id !== undefined) ids.add(id);
      }
      this.lastFullScan = Date.now();
    } else ids = new Set(this.dirty);
    let published = 0;
    let source: Promise<SourceState | undefined> | undefined;
    const readSource = () => (source ??= this.readSource());
    for (const id of ids) {
      const open = await this.flushPeriod(id, now, readSource);
      if (open === 'published') published += 1;
      if (open !== 'open') {
        this.dirty.delete(id);
        this.waiting.delete(id);
      }
    }
    return published;
  }

  /** Where the source consumer stands: read once per flush, when a period first needs it. */
  private async readSource(): Promise<SourceState | undefined> {
    const { source, js } = this.options;
    if (source === undefined) return undefined;
    const jsm = await (this.jsm ??= js.jetstreamManager(false));
    const at = Date.now();
    const last = (await jsm.streams.info(source.stream)).state.last_seq;
    // Read after the stream: its ack floor can only be further on than it was then.
    const c = await jsm.consumers.info(source.stream, source.consumer);
    const acked = (seq: number): boolean =>
      c.ack_floor.stream_seq >= seq || (c.num_ack_pending === 0 && c.delivered.stream_seq >= seq);
    return { at, last, acked };
  }

  /**
   * Whether settled period `id` may be published: every event stored in the source's stream when it
   * settled (the first flush that found it settled) was counted or acknowledged. Until then an event of
   * the period may still be held by a replica that died, and come back only after ack_wait.
   */
  private async caughtUp(
    id: string,
    lastAdded: number,
    readSource: () => Promise<SourceState | undefined>,
  ): Promise<boolean> {
    const source = await readSource();
    if (source === undefined) return true;
    let upTo = this.waiting.get(id);
    if (upTo === undefined) {
      // Settled before the source was read (else the next flush): its events were stored by then.
      if (source.at - lastAdded < (this.options.settleMs ?? 2_000)) return false;
      upTo = source.last;
      this.waiting.set(id, upTo);
    }
    if (source.acked(upTo)) return true;
    this.options.log.debug(
      { period: id, upTo },
      'a settled aggregate period waits until every event stored before it settled is acknowledged',
    );
    return false;
  }

  /**
   * Publishes period `id` (a new vintage) if it closed, settled, and counts more than its last vintage —
   * once every event stored before it settled was acknowledged (see {@link caughtUp}).
   */
  private async flushPeriod(
    id: string,
    now: Date,
    readSource: () => Promise<SourceState | undefined>,
  ): Promise<'open' | 'published' | 'settled'> {
    const { state, log } = this.options;
    const grace = this.options.graceMs ?? 3_600_000;
    const settle = this.options.settleMs ?? 2_000;
    const shards: ShardDoc[] = [];
    for (let s = 0; s < SHARDS; s++) {
      const e = await state.get(`agg.${id}.s${s}`);
      if (e !== null && e.operation === 'PUT') shards.push(e.json<ShardDoc>());
    }
    const [ref] = shards;
    if (ref === undefined) return 'settled';
    const lastAdded = Math.max(...shards.map((s) => s.lastAdded));
    if (ref.end + grace > now.getTime() || Date.now() - lastAdded < settle) return 'open';
    // Counted and taken out: grows with every change, so that a withdrawal makes the period looked at.
    const events = shards.reduce((n, s) => n + s.ids.length + (s.out?.length ?? 0), 0);
    const pubKey = `agg.${id}.pub`;
    const before = await this.readPub(pubKey);
    let claimed: PubDoc | undefined;
    let takeover = false;
    if (before === undefined || before.events < events) {
      if (!(await this.caughtUp(id, lastAdded, readSource))) return 'open';
      const counts = new Map<string, number>();
      for (const s of shards)
        for (const [k, n] of Object.entries(s.counts)) counts.set(k, (counts.get(k) ?? 0) + n);
      const counted = [...counts].map(([k, count]) => ({ values: JSON.parse(k) as string[], count }));
      const cellKeys: Record<string, number> = {};
      for (const s of shards)
        for (const [k, n] of Object.entries(s.keys ?? {})) cellKeys[k] = addKey(cellKeys[k] ?? 0, n);
      const minCell = ref.term.minCell;
      const vintage = (before?.vintage ?? 0) + 1;
      const linked = await this.protect(ref, id, vintage, cellKeys, (control) => {
        if (before === undefined) return firstVintage(counted, control);
        const previous = {
          cells: before.body.cells,
          basis: before.basis ?? basisOf(before.body.cells, minCell),
        };
        return reviseVintage(previous, counted, control);
      });
      if (linked === 'later') return 'settled'; // another replica claims a later vintage
      if (linked.safe === false) {
        log.warn(
          { recipient: ref.recipient, agreement: ref.agreementId, period: ref.period },
          `aggregate of period ${ref.period} withheld: tables of the same events published before it ` +
            'would give one of its suppressed cells away whatever it suppresses',
        );
        return 'settled';
      }
      let next: AggregateVintage;
      if (before === undefined) next = linked;
      else {
        const revised = { ...linked, changed: linked.changed ?? true };
        if (!revised.changed) {
          // Nothing would show: no vintage. The events are noted as looked at (the basis stays).
          await this.cas<PubDoc>(pubKey, (cur) =>
            cur?.vintage === before.vintage && cur.events < events ? { ...cur, events } : undefined,
          );
          log.info(
            { recipient: ref.recipient, agreement: ref.agreementId, period: ref.period, events },
            `late events of period ${ref.period} move no cell by minCell: no new vintage`,
          );
          return 'settled';
        }
        next = revised;
      }
      const body: StatsAggregateBody = {
        period: ref.period,
        sourceType: ref.sourceType,
        dimensions: [...ref.term.dimensions],
        cells: next.cells,
        minCell,
      };
      const mine: PubDoc = {
        vintage,
        events,
        eventId: aggregateId(`${ref.recipient}.${id}.${vintage}`, ref.end),
        body,
        basis: { ...next.basis },
        claimedAt: Date.now(),
        done: false,
      };
      // One replica wins the vintage: the others see it claimed (or counted as many) and leave it.
      const after = await this.cas<PubDoc>(pubKey, (cur) =>
        cur === undefined || (cur.events < events && cur.vintage < vintage) ? mine : undefined,
      );
      if (after !== mine) return 'settled';
      claimed = mine;
      if (vintage > 1) {
        log.warn(
          { recipient: ref.recipient, agreement: ref.agreementId, period: ref.period, vintage, events },
          `events counted after period ${ref.period} was published: revised vintage ${vintage} issued`,
        );
      }
    } else if (
      !before.done &&
      Date.now() - before.claimedAt >= (this.options.claimLeaseMs ?? CLAIM_LEASE_MS)
    ) {
      claimed = before; // its claimer died before publishing it (perhaps after auditing it)
      takeover = true;
    } else return 'settled';
    await this.publish(ref, claimed, now, pubKey, takeover);
    await this.cas<PubDoc>(pubKey, (cur) =>
      cur?.eventId === claimed.eventId && !cur.done ? { ...cur, done: true } : undefined,
    );
    return 'published';
  }

  /**
   * Vintage `vintage` of period `id`, protected against the tables of the same events claimed before it
   * (see {@link LinkDoc}): `compute` makes it with the term's cell control and those tables, and, when
   * it is to be published (changed and safe), it is entered in the link document in the same
   * compare-and-set. A vintage a replica entered already is taken as it was entered; 'later' when one
   * after it was. Without other tables of the same events, what `compute` makes from the term alone.
   */
  private async protect(
    ref: PeriodRef,
    id: string,
    vintage: number,
    cellKeys: Readonly<Record<string, number>>,
    compute: (control: ReturnType<typeof controlOf> & { linked: LinkedTable[] }) => AggregateVintage & {
      changed?: boolean;
    },
  ): Promise<(AggregateVintage & { changed?: boolean }) | 'later'> {
    let out: (AggregateVintage & { changed?: boolean }) | 'later' | undefined;
    await this.cas<LinkDoc>(`aggl.${this.linkHash(ref)}`, (doc) => {
      const entered = doc?.tables[id];
      if (entered !== undefined && entered.vintage > vintage) {
        out = 'later';
        return undefined;
      }
      if (entered !== undefined && entered.vintage === vintage) {
        out = { cells: entered.published, basis: entered.basis, changed: true, safe: true };
        return undefined;
      }
      const linked = Object.entries(doc?.tables ?? {})
        .filter(([k]) => k !== id)
        .map(([, t]) => linkedTable(t));
      const next = compute({ ...controlOf(ref.term), linked, cellKeys });
      out = next;
      if (next.changed === false || next.safe === false) return undefined;
      const entry: LinkedEntry = {
        vintage,
        dimensions: [...ref.term.dimensions],
        minCell: ref.term.minCell,
        published: [...next.cells],
        basis: { ...next.basis },
      };
      return { tables: { ...doc?.tables, [id]: entry } };
    });
    if (out === undefined) throw new Error('unreachable: the link document was not looked at');
    return out;
  }

  /** Whether the audit chain lists disclosure `key` of aggregate `eventId`, claimed at `claimedAt` (ms). */
  private async listed(eventId: string, key: string, claimedAt: number): Promise<boolean> {
    const { js, partner } = this.options;
    this.chain ??= new AuditedDisclosures(await (this.jsm ??= js.jetstreamManager(false)), partner);
    return this.chain.has(eventId, key, claimedAt);
  }

  private async readPub(key: string): Promise<PubDoc | undefined> {
    const e = await this.options.state.get(key);
    return e !== null && e.operation === 'PUT' ? e.json<PubDoc>() : undefined;
  }

  /**
   * Audits and publishes vintage `pub`, each once: a vintage taken over from a claimer that died is not
   * audited again if its claim says it was (`audited`) or the audit chain lists it (the claimer died
   * between appending the entry and noting it); published again under its event id, it is dropped as a
   * duplicate if the claimer had published it.
   */
  private async publish(ref: PeriodRef, pub: PubDoc, now: Date, pubKey: string, takeover: boolean) {
    const { partner, js, sealer, audit, log, crashPoint } = this.options;
    const occurredAt = new Date(Math.min(ref.end - 1, now.getTime())).toISOString();
    const event = {
      eventId: pub.eventId,
      origin: partner,
      type: 'stats.aggregate',
      schemaVersion: 1,
      occurredAt,
      recordedAt: now.toISOString(),
      statsAggregate: pub.body,
    };
    const valid = validateEvent(JSON.parse(JSON.stringify(event)), { now });
    if (!valid.ok) {
      log.error(
        { period: ref.period, violations: valid.violations },
        'an aggregate failed validation; not published',
      );
      return;
    }
    const token = sealer.seal(valid.event, { now });
    const { recipient } = ref;
    // Audited first: the aggregate leaves only once its entry is durably stored.
    if (!this.audited.has(event.eventId) && pub.audited !== true) {
      const record = {
        recipient,
        agreementId: ref.agreementId,
        eventId: event.eventId,
        eventType: 'stats.aggregate',
        paths: [...ref.term.dimensions].sort(),
        mode: 'aggregate' as const,
      };
      if (!takeover || !(await this.listed(record.eventId, disclosureKey(record), pub.claimedAt))) {
        await audit.append(record);
        crashPoint?.('appended', event.eventId);
      } else log.warn({ period: ref.period, eventId: event.eventId }, 'taken-over aggregate already audited');
      this.audited.add(event.eventId);
      await this.cas<PubDoc>(pubKey, (cur) =>
        cur?.eventId === event.eventId && cur.audited !== true ? { ...cur, audited: true } : undefined,
      );
      crashPoint?.('noted', event.eventId);
    }
    await js.publish(shareSubject(recipient, partner, 'stats.aggregate'), token, {
      msgID: event.eventId,
      expect: { streamName: shareStream(recipient) },
    });
    this.audited.delete(event.eventId);
    log.info(
      { recipient, agreement: ref.agreementId, period: ref.period, vintage: pub.vintage, events: pub.events },
      'aggregate shared',
    );
  }
}
