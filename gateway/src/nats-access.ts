import { createUser, fromSeed } from '@nats-io/nkeys';

import {
  ORIGIN_ACCOUNT,
  RECIPIENT_API_PREFIX,
  recipientAccount,
  recipientInboxPrefix,
  shareConsumer,
  shareStream,
} from './nats-layout.js';

/** The subjects of R's own durable consumer: all that the origin's account exports to R. */
export interface ConsumerSubjects {
  /** `$JS.API.CONSUMER.INFO.WBX_SHARE_<R>.<R>`: the consumer's state. */
  readonly info: string;
  /** `$JS.API.CONSUMER.MSG.NEXT.WBX_SHARE_<R>.<R>`: pull requests; answered by a stream of messages. */
  readonly next: string;
  /** `$JS.ACK.WBX_SHARE_<R>.<R>.>`: acknowledgements of what was delivered. */
  readonly ack: string;
}

export function consumerSubjects(recipient: string): ConsumerSubjects {
  const stream = shareStream(recipient);
  const consumer = shareConsumer(recipient);
  return {
    info: `$JS.API.CONSUMER.INFO.${stream}.${consumer}`,
    next: `$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`,
    ack: `$JS.ACK.${stream}.${consumer}.>`,
  };
}

/** The name under which R's account imports one of the origin's consumer subjects. */
function local(subject: string): string {
  return subject.startsWith('$JS.API.')
    ? `${RECIPIENT_API_PREFIX}.${subject.slice('$JS.API.'.length)}`
    : subject;
}

export interface Permissions {
  readonly publish: readonly string[];
  readonly subscribe: readonly string[];
}

/**
 * What R's user may do inside its own account: publish to the three imported subjects of its consumer and
 * subscribe to its own inbox prefix. The account boundary is what protects the origin (see
 * {@link renderAccessConfig}); these permissions only keep R's own account tidy.
 */
export function recipientPermissions(recipient: string): Permissions {
  const s = consumerSubjects(recipient);
  return {
    publish: [local(s.info), local(s.next), s.ack],
    subscribe: [`${recipientInboxPrefix(recipient)}.>`],
  };
}

export interface NkeyIdentity {
  /** The public key (U…), what the server config names. */
  readonly publicKey: string;
  /** The seed (SU…), what the holder authenticates with. Secret. */
  readonly seed: string;
}

export function newUserNkey(): NkeyIdentity {
  const kp = createUser();
  return { publicKey: kp.getPublicKey(), seed: new TextDecoder().decode(kp.getSeed()) };
}

export function nkeyFromSeed(seed: string): NkeyIdentity {
  const kp = fromSeed(new TextEncoder().encode(seed.trim()));
  return { publicKey: kp.getPublicKey(), seed: seed.trim() };
}

export interface AccessConfigInput {
  /** The gateway's own user (public nkey): the origin's account, with JetStream. */
  readonly gateway: string;
  /** One nkey user per recipient, each in an account of its own. */
  readonly recipients: readonly { readonly id: string; readonly publicKey: string }[];
  /**
   * Partners that may become recipients (the manifest's other members): their accounts and imports are
   * declared now, without a user, so that an agreement that starts later only adds a user — nats-server
   * does not wire the imports of an account that a reload adds.
   */
  readonly standby?: readonly string[];
  /** Server TLS (PEM paths); recipients connect over TLS. */
  readonly tls?: { readonly cert: string; readonly key: string };
}

/**
 * What one recipient's account may hold on the origin's server at once: a receiving gateway needs one
 * connection per replica and a handful of subscriptions; these bound what stolen credentials can tie up.
 */
export const RECIPIENT_LIMITS = { connections: 8, subscriptions: 64, payload: 64 * 1024 } as const;

const q = (s: string): string => JSON.stringify(s);
const list = (items: readonly string[]): string => `[${items.map(q).join(', ')}]`;

/**
 * The accounts (and TLS) part of a partner's nats-server configuration.
 *
 * NATS checks only the subject a client publishes to, and JetStream answers to whatever reply subject a
 * request names; so a recipient must never be a user of the origin's account, where a reply subject such
 * as `$JS.API.STREAM.PURGE.WBX_AUDIT` would reach the origin's JetStream. Instead:
 *
 * - the account {@link ORIGIN_ACCOUNT} has JetStream and the gateway's user, and exports to each recipient,
 *   as services, exactly the subjects of that recipient's durable consumer (info, next, ack);
 * - each recipient R has an account of its own, without JetStream, that imports those three services and
 *   nothing else; R's user may publish only to them and subscribe only to its inbox prefix.
 *
 * A request R sends crosses into the origin's account with its reply subject rewritten to a one-off
 * response subject that leads back into R's account; whatever reply R names, the answer lands in R's own
 * account, where no stream, bucket or JetStream API of the origin exists. There are no anonymous users and
 * no `no_auth_user`.
 */
export function renderAccessConfig(input: AccessConfigInput): string {
  const withUser = new Set(input.recipients.map((r) => r.id));
  const recipients = [
    ...input.recipients,
    ...[...new Set(input.standby ?? [])]
      .filter((id) => !withUser.has(id))
      .map((id) => ({ id, publicKey: undefined })),
  ].sort((a, b) => a.id.localeCompare(b.id));
  const exports = recipients.flatMap((r) => {
    const s = consumerSubjects(r.id);
    const to = list([recipientAccount(r.id)]);
    return [
      `      # ${r.id}: its own durable consumer, nothing else`,
      `      { service: ${q(s.info)}, accounts: ${to} }`,
      `      { service: ${q(s.next)}, response_type: stream, accounts: ${to} }`,
      `      { service: ${q(s.ack)}, accounts: ${to} }`,
    ];
  });
  const origin = [
    `  ${ORIGIN_ACCOUNT}: {`,
    `    jetstream: enabled`,
    `    users: [ { nkey: ${q(input.gateway)} } ]`,
    ...(exports.length === 0 ? [] : [`    exports: [`, ...exports, `    ]`]),
    `  }`,
  ];
  const accounts = recipients.map((r) => {
    const s = consumerSubjects(r.id);
    const p = recipientPermissions(r.id);
    const imp = (subject: string): string =>
      `      { service: { account: ${q(ORIGIN_ACCOUNT)}, subject: ${q(subject)} }, to: ${q(local(subject))} }`;
    return [
      `  ${recipientAccount(r.id)}: {`,
      `    limits: { max_connections: ${RECIPIENT_LIMITS.connections}, max_subscriptions: ${RECIPIENT_LIMITS.subscriptions}, max_payload: ${RECIPIENT_LIMITS.payload} }`,
      ...(r.publicKey === undefined
        ? [`    users: []  # no agreement in force: nobody can sign in`]
        : [
            `    users: [ { nkey: ${q(r.publicKey)}, permissions: {`,
            `      publish: { allow: ${list(p.publish)} }`,
            `      subscribe: { allow: ${list(p.subscribe)} }`,
            `    } } ]`,
          ]),
      `    imports: [`,
      imp(s.info),
      imp(s.next),
      imp(s.ack),
      `    ]`,
      `  }`,
    ].join('\n');
  });
  const parts = [`accounts {\n${[origin.join('\n'), ...accounts].join('\n')}\n}`];
  if (input.tls !== undefined) {
    parts.push(`tls {\n  cert_file: ${q(input.tls.cert)}\n  key_file: ${q(input.tls.key)}\n}`);
  }
  return `${parts.join('\n')}\n`;
}
