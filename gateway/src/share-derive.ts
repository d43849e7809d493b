import type { AggregateGrant, PartnerPolicy } from '@wbx/agreements';
import { isRecordChangeType } from '@wbx/schema';
import { holdToken } from '@wbx/seal';

import { presentRecord, type StreamRefs } from './stream-refs.js';

const UTF8 = new TextEncoder();

/** One recipient's share of an event: what the share worker audits and publishes (see `deriveShares`). */
export interface DerivedGrant {
  readonly recipient: string;
  readonly agreementIds: readonly string[];
  /** The disclosure paths, sorted, as audited. */
  readonly paths: readonly string[];
  readonly aggregates: readonly AggregateGrant[];
  /** The recipient's presentation, UTF-8 (as published); none when it gets no record (aggregates only). */
  readonly presentation?: Uint8Array;
}

/** An event of WBX_EVENTS read once and cut into its recipients' presentations. */
export interface DerivedEvent {
  readonly eventId: string;
  readonly type: string;
  /**
   * A correction or withdrawal: shared by the ChangeSharer with the recipients of its original, not by
   * the policy; `grants` is then empty.
   */
  readonly change: boolean;
  readonly grants: readonly DerivedGrant[];
  /** The event's claims, only when a grant has aggregates (the aggregator counts them). */
  readonly claims?: Readonly<Record<string, unknown>>;
}

/**
 * The CPU part of sharing one event (`token`, sealed by `origin`, this node's partner): one parse, the policy's
 * grants at `now`, and each recipient's presentation (`presentRecord`: disclosures dropped, references
 * keyed and signed). Pure; throws when the token cannot be read. The share worker runs it on its own
 * thread for a trickle and on the share-derive workers for a backlog, with the same result.
 */
export function deriveShares(
  token: string,
  origin: string,
  policy: PartnerPolicy,
  refs: StreamRefs,
  now: Date,
): DerivedEvent {
  const own = holdToken(token, Number.MAX_SAFE_INTEGER);
  const { claims, eventId, type } = own;
  if (isRecordChangeType(type)) return { eventId, type, change: true, grants: [] };
  const grants = policy.grants({ type, origin, claims }, now).map((grant): DerivedGrant => {
    const base = {
      recipient: grant.recipient,
      agreementIds: grant.agreementIds,
      paths: [...grant.paths].sort(),
      aggregates: grant.aggregates,
    };
    if (grant.paths.length === 0) return base;
    return { ...base, presentation: UTF8.encode(presentRecord(own, grant, policy, refs, now)) };
  });
  const counted = grants.some((g) => g.aggregates.length > 0);
  return { eventId, type, change: false, grants, ...(counted ? { claims } : {}) };
}
