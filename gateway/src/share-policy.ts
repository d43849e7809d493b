import type { AggregateTerm } from '@wbx/agreements';

/**
 * What one recipient may receive of one event: in records mode the union of its agreements' fields
 * (empty: no record), and the aggregate terms that count it.
 */
export interface ShareGrant {
  readonly recipient: string;
  readonly agreementIds: readonly string[];
  readonly paths: readonly string[];
  readonly aggregates: readonly AggregateGrant[];
}

/** One aggregate term of an agreement in force, for the aggregator. */
export interface AggregateGrant {
  readonly recipient: string;
  readonly agreementId: string;
  /** Index of the term in the agreement. */
  readonly termIndex: number;
  readonly term: AggregateTerm;
}

export interface ShareEvent {
  readonly type: string;
  readonly origin: string;
  /** The event's body-level claims (occurredAt, recordedAt, fields, persons with attributes). */
  readonly claims: Readonly<Record<string, unknown>>;
}

/**
 * The sharer's view of the active agreements where this partner is the provider. Deny by default:
 * an event goes to a recipient only through a grant.
 */
export interface SharePolicy {
  grants(event: ShareEvent, now: Date): ShareGrant[];
  /** Every recipient with an active agreement, and how long its share stream keeps data. */
  recipients(now: Date): { readonly id: string; readonly retentionDays: number }[];
  /**
   * The agreements cannot be read, so nobody knows what is allowed: nothing is shared, no event is
   * acknowledged (each waits until sharing resumes), no share stream is purged, no credential removed.
   */
  readonly paused?: boolean;
}

/** Shares nothing: what a gateway does without agreements. */
export const DENY_ALL: SharePolicy = {
  grants: () => [],
  recipients: () => [],
};

/** Shares nothing and holds every event back: what a gateway does while its agreements cannot be read. */
export const PAUSED: SharePolicy = {
  grants: () => [],
  recipients: () => [],
  paused: true,
};
