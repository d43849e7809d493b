import { createUser, fromSeed } from '@nats-io/nkeys';

/** The stream an origin fills for recipient R, and the durable consumer R reads it with. */
export function shareStream(recipient: string): string {
  return `WBX_SHARE_${recipient}`;
}

/** Subjects of R's share stream: `wbx.share.<R>.<origin>.<type>`. */
export function shareSubject(recipient: string, origin: string, type: string): string {
  return `wbx.share.${recipient}.${origin}.${type}`;
}

/** The inbox prefix R must connect with; its permissions allow no other. */
export function recipientInboxPrefix(recipient: string): string {
  return `_INBOX_${recipient}`;
}

export interface Permissions {
  readonly publish: readonly string[];
  readonly subscribe: readonly string[];
}

/**
 * Least privilege for recipient R on an origin's NATS (DESIGN.md, NATS layout): read its own durable
 * consumer `R` on `WBX_SHARE_R` and acknowledge, nothing else — no other stream, no consumer creation,
 * no direct get, no other inbox.
 */
export function recipientPermissions(recipient: string): Permissions {
  const stream = shareStream(recipient);
  return {
    publish: [
      `$JS.API.CONSUMER.INFO.${stream}.${recipient}`,
      `$JS.API.CONSUMER.MSG.NEXT.${stream}.${recipient}`,
      `$JS.ACK.${stream}.${recipient}.>`,
    ],
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
  /** The gateway's own user: all permissions. */
  readonly gateway: string;
  /** One nkey user per recipient, with only its permissions. */
  readonly recipients: readonly { readonly id: string; readonly publicKey: string }[];
  /** Server TLS (PEM paths); recipients connect over TLS. */
  readonly tls?: { readonly cert: string; readonly key: string };
}

const q = (s: string): string => JSON.stringify(s);
const list = (items: readonly string[]): string => `[${items.map(q).join(', ')}]`;

/**
 * The authorization (and TLS) part of a partner's nats-server configuration: the gateway's user, one
 * nkey user per recipient with exactly its permissions, no anonymous access and no `no_auth_user`.
 */
export function renderAccessConfig(input: AccessConfigInput): string {
  const users = [
    `    { nkey: ${q(input.gateway)} }`,
    ...input.recipients.map((r) => {
      const p = recipientPermissions(r.id);
      return [
        `    # ${r.id}: its own share consumer, nothing else`,
        `    { nkey: ${q(r.publicKey)}, permissions: {`,
        `        publish: { allow: ${list(p.publish)} }`,
        `        subscribe: { allow: ${list(p.subscribe)} }`,
        `    } }`,
      ].join('\n');
    }),
  ];
  const parts = [`authorization {\n  users = [\n${users.join('\n')}\n  ]\n}`];
  if (input.tls !== undefined) {
    parts.push(`tls {\n  cert_file: ${q(input.tls.cert)}\n  key_file: ${q(input.tls.key)}\n}`);
  }
  return `${parts.join('\n')}\n`;
}
