import { isPartnerCode, parseTimestamp } from '@wbx/schema';
import * as z from 'zod';

import { ROLES } from '../roles.js';
import { ED25519_KEY_B64URL_RE } from './ed25519-key.js';
import { parseKid } from './kid.js';

const timestamp = z
  .string()
  .refine((s) => parseTimestamp(s) !== undefined, { error: 'must be an RFC 3339 UTC timestamp' });

const publicJwk = z.strictObject({
  kty: z.literal('OKP'),
  crv: z.literal('Ed25519'),
  x: z.string().regex(ED25519_KEY_B64URL_RE, { error: 'must be a 32-byte Ed25519 public key, base64url' }),
  d: z.never({ error: 'private key material (d) must not appear in a manifest' }).optional(),
});

const signingKey = z
  .strictObject({
    kid: z.string().refine((k) => parseKid(k) !== undefined, {
      error: 'must have the form <memberId>#<yyyy-mm-dd>-<n>',
    }),
    jwk: publicJwk,
    notBefore: timestamp,
    notAfter: timestamp.optional(),
    revokedAt: timestamp.optional(),
  })
  .check((ctx) => {
    const { notBefore, notAfter } = ctx.value;
    if (notAfter !== undefined && (parseTimestamp(notAfter) ?? 0) <= (parseTimestamp(notBefore) ?? 0)) {
      ctx.issues.push({
        code: 'custom',
        input: notAfter,
        path: ['notAfter'],
        message: 'must be after notBefore',
      });
    }
  });

const natsUrl = z.string().refine(
  (s) => {
    if (!URL.canParse(s)) return false;
    const u = new URL(s);
    return (u.protocol === 'nats:' || u.protocol === 'tls:') && u.hostname !== '';
  },
  { error: 'must be a nats:// or tls:// URL' },
);

const HOST_PORT_RE = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?):(\d{1,5})$/;
const hostPort = z.string().refine(
  (s) => {
    const port = Number(HOST_PORT_RE.exec(s)?.[1] ?? 0);
    return port >= 1 && port <= 65_535;
  },
  { error: 'must be host:port' },
);

const member = z.strictObject({
  id: z.string().refine(isPartnerCode, { error: 'not a WBX partner code' }),
  name: z.string().min(1).max(128),
  roles: z
    .array(z.enum(ROLES))
    .min(1)
    .refine((r) => new Set(r).size === r.length, { error: 'roles must be unique' }),
  signingKeys: z.array(signingKey).min(1),
  nats: natsUrl.optional(),
  grpc: hostPort.optional(),
  tlsCertSha256: z
    .array(z.string().regex(/^[0-9a-f]{64}$/, { error: 'must be 64 lowercase hex characters' }))
    .refine((r) => new Set(r).size === r.length, { error: 'fingerprints must be unique' }),
});

/** The manifest body: shapes, then the cross-field rules (ids, kids, threshold). */
export const manifestBodySchema = z
  .strictObject({
    version: z.int().min(1),
    threshold: z.int().min(1),
    issuedAt: timestamp,
    members: z.array(member).min(1),
  })
  .check((ctx) => {
    const { members, threshold } = ctx.value;
    const add = (path: (string | number)[], message: string): void => {
      ctx.issues.push({ code: 'custom', input: ctx.value, path, message });
    };
    if (threshold > members.length) {
      add(['threshold'], `must not exceed the number of members (${members.length})`);
    }
    const ids = new Set<string>();
    const kids = new Set<string>();
    members.forEach((m, i) => {
      if (ids.has(m.id)) add(['members', i, 'id'], `duplicate member id ${m.id}`);
      ids.add(m.id);
      m.signingKeys.forEach((k, j) => {
        if (kids.has(k.kid)) add(['members', i, 'signingKeys', j, 'kid'], `duplicate kid ${k.kid}`);
        kids.add(k.kid);
        if (parseKid(k.kid)?.memberId !== m.id) {
          add(['members', i, 'signingKeys', j, 'kid'], `kid must start with the member id ${m.id}#`);
        }
      });
    });
  });
