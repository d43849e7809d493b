/**
 * The NATS layout of one partner (DESIGN.md, NATS layout): every stream, subject, consumer, bucket,
 * account and inbox prefix WBX uses is named here, once; everything else builds them with these.
 *
 * | name              | kind                         | subjects / keys                                      |
 * |-------------------|------------------------------|------------------------------------------------------|
 * | `WBX_EVENTS`      | stream, file                 | `wbx.evt.<origin>.<type>`: own sealed events         |
 * | `wbx-share`       | durable consumer, WBX_EVENTS | the share worker's cursor (replicas share it)        |
 * | `WBX_SHARE_<R>`   | stream per recipient R       | `wbx.share.<R>.<origin>.<type>`: presentations for R |
 * | `<R>`             | durable consumer, SHARE_<R>  | R's own pull consumer: all that R reaches            |
 * | `WBX_INBOX`       | stream                       | `wbx.in.<origin>.<type>`: verified presentations in  |
 * | `WBX_QUARANTINE`  | stream                       | `wbx.quarantine.<origin>`: received but refused      |
 * | `WBX_AUDIT`       | stream (named by @wbx/audit) | `wbx.audit.<origin>`: the hash-chained audit log     |
 * | `wbx_state`       | KV                           | `agg.<period>.<shard|pub>`: counts, vintages         |
 * | `wbx_readmission` | KV                           | `<requestId>`: readmission requests, their answers   |
 * | `wbx_inbox_seen`  | KV                           | `<origin>.<eventId>`: what WBX_INBOX stored          |
 * | `wbx_match`       | KV                           | `r.<a>.<keyed ref>.<n>`, `c.<a>`: the Match index    |
 * | `wbx_record_changes` | KV                        | `e.<eventId>`, `n.<R>.<changeId>`: changes, notices  |
 *
 * Accounts (docs/access-model.md): the origin's streams and buckets live in the account `WBX`; recipient
 * R has an account of its own, `RECIPIENT_<R>`, connects with the inbox prefix `_INBOX_<R>` and reaches
 * its consumer's JetStream API under `WBX.ORIGIN.API` (see nats-access.ts).
 *
 * The audit stream and subject belong to @wbx/audit, which must not depend on the node: they are
 * re-exported here so that the whole layout reads in one place.
 */

export { AUDIT_STREAM, auditSubject } from '@wbx/audit';

/** All subjects under a prefix, as a stream's subject filter: `<prefix>.>`. */
export function subjectsUnder(prefix: string): string {
  return `${prefix}.>`;
}

// The partner's own events.

/** The partner's own sealed events (and its sealed answers): the source of all sharing. */
export const EVENTS_STREAM = 'WBX_EVENTS';
/** Subjects of WBX_EVENTS: `wbx.evt.<origin>.<type>`. */
export const EVENTS_SUBJECT_PREFIX = 'wbx.evt';

export function eventSubject(origin: string, type: string): string {
  return `${EVENTS_SUBJECT_PREFIX}.${origin}.${type}`;
}

/** The durable consumer on WBX_EVENTS that the share worker reads with; all replicas share it. */
export const SHARE_CONSUMER = 'wbx-share';

// What the partner shares with recipient R.

const SHARE_STREAM_PREFIX = 'WBX_SHARE_';

/** The stream an origin fills for recipient R. */
export function shareStream(recipient: string): string {
  return `${SHARE_STREAM_PREFIX}${recipient}`;
}

/** The recipient whose share stream this is, or undefined for any other stream. */
export function shareStreamRecipient(stream: string): string | undefined {
  return stream.startsWith(SHARE_STREAM_PREFIX) ? stream.slice(SHARE_STREAM_PREFIX.length) : undefined;
}

/** The subjects of R's share stream begin with `wbx.share.<R>`. */
export function shareSubjectPrefix(recipient: string): string {
  return `wbx.share.${recipient}`;
}

/** Subjects of R's share stream: `wbx.share.<R>.<origin>.<type>`. */
export function shareSubject(recipient: string, origin: string, type: string): string {
  return `${shareSubjectPrefix(recipient)}.${origin}.${type}`;
}

/** The durable pull consumer R reads its share stream with: named after R. */
export function shareConsumer(recipient: string): string {
  return recipient;
}

// What the partner receives.

/** Presentations received from origins, verified and within the agreements. */
export const INBOX_STREAM = 'WBX_INBOX';
/** Subjects of WBX_INBOX: `wbx.in.<origin>.<type>`. */
export const INBOX_SUBJECT_PREFIX = 'wbx.in';

export function inboxSubject(origin: string, type: string): string {
  return `${INBOX_SUBJECT_PREFIX}.${origin}.${type}`;
}

/**
 * What identifies a received event, in WBX_INBOX (its Nats-Msg-Id) and in `wbx_inbox_seen` (its key):
 * the verified issuer and the event id. An event id alone is the issuer's to choose, so another origin
 * could take it first and have the inbox drop the real event as a duplicate.
 */
export function inboxMsgId(origin: string, eventId: string): string {
  return `${origin}.${eventId}`;
}

/** What was received but refused, with its code. */
export const QUARANTINE_STREAM = 'WBX_QUARANTINE';
/** Subjects of WBX_QUARANTINE: `wbx.quarantine.<origin>`. */
export const QUARANTINE_SUBJECT_PREFIX = 'wbx.quarantine';

export function quarantineSubject(origin: string): string {
  return `${QUARANTINE_SUBJECT_PREFIX}.${origin}`;
}

// Key-value buckets.

/** The gateway's own state: which aggregate periods were published (`agg.<…>`). */
export const STATE_BUCKET = 'wbx_state';
/** Where the requested state keeps its readmission cases (key: the request's event id). */
export const READMISSION_BUCKET = 'wbx_readmission';
/** Which events WBX_INBOX stored, by origin and event id, beyond its duplicate window. */
export const INBOX_SEEN_BUCKET = 'wbx_inbox_seen';
/** The Match index: per agreement, the events each keyed subject reference appears in (exchange/match.ts). */
export const MATCH_BUCKET = 'wbx_match';

/**
 * The origin's corrections and withdrawals: per changed event its latest change (`e.<eventId>`), per
 * notification not yet acknowledged by its recipient `n.<recipient>.<changeId>` (record-changes.ts).
 */
export const RECORD_CHANGES_BUCKET = 'wbx_record_changes';

/** The stream JetStream keeps a KV bucket in. */
export function bucketStream(bucket: string): string {
  return `KV_${bucket}`;
}

// Accounts and what a recipient connects with.

/** The NATS account that holds the origin's JetStream (its streams, buckets) and the gateway's user. */
export const ORIGIN_ACCOUNT = 'WBX';

/** The NATS account recipient R lives in: no JetStream, nothing but what the origin exports to it. */
export function recipientAccount(recipient: string): string {
  return `RECIPIENT_${recipient}`;
}

/** The inbox prefix R must connect with; its permissions allow no other. */
export function recipientInboxPrefix(recipient: string): string {
  return `_INBOX_${recipient}`;
}

/**
 * The JetStream API prefix a recipient uses on an origin's NATS (nats.js `jetstream(nc, { apiPrefix })`).
 * In its own account `$JS.API.>` belongs to the server (which answers "JetStream not enabled"), so the
 * origin's consumer subjects are imported under this prefix instead.
 */
export const RECIPIENT_API_PREFIX = 'WBX.ORIGIN.API';
