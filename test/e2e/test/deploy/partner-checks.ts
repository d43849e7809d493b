import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { pino } from 'pino';

import { loadAgreements, loadGatewayConfig, RevocationStore } from '@wbx/gateway';
import { verifyRootManifest, type ManifestBody, type SignedManifest } from '@wbx/registry';
import type { K8sObject } from './k8s-checks.js';

/** A ConfigMap or Secret by its name (generated ones carry a content hash after it). */
function byName(objects: readonly K8sObject[], kind: string, name: string): K8sObject | undefined {
  return objects.find(
    (o) => o.kind === kind && (o.metadata.name === name || o.metadata.name.startsWith(`${name}-`)),
  );
}

/** `accounts.RECIPIENT_X.users` of a nats-access.conf (wbx nats-config): which X have a user. */
export function recipientUsers(natsAccess: string): Map<string, number> {
  const users = new Map<string, number>();
  for (const m of natsAccess.matchAll(/^ {2}RECIPIENT_([A-Z]+): \{\n(?:.*\n)*? {4}users: \[(.*)$/gm)) {
    users.set(m[1] ?? '', [...(m[2] ?? '').matchAll(/nkey: "U[A-Z0-9]+"/g)].length);
  }
  return users;
}

/** The federation manifest the base ships, verified on its own (k of n signatures). */
export function manifestOf(objects: readonly K8sObject[]): ManifestBody {
  const cm = byName(objects, 'ConfigMap', 'wbx-manifest');
  const text = (cm?.data as Record<string, string> | undefined)?.['manifest.json'];
  if (text === undefined) throw new Error('no ConfigMap wbx-manifest with manifest.json');
  return verifyRootManifest(JSON.parse(text) as SignedManifest);
}

/**
 * Whether one overlay is about the partner it is named for and agrees with the manifest: the gateway's
 * configuration (validated by the gateway's own loader) names `partner`, the wbx-partner ConfigMap too,
 * its public key is the manifest's key for it, the agreements all name it (a revoked one stays, so that
 * every replica sees the revocation), it receives from exactly the partners that share with it under an
 * agreement in force, and the NATS access gives a user to exactly the recipients of its agreements in force
 * (and an account without one to every other member).
 */
export async function partnerProblems(
  objects: readonly K8sObject[],
  partner: string,
  now = new Date(),
): Promise<string[]> {
  const problems: string[] = [];
  const manifest = manifestOf(objects);
  const member = manifest.members.find((m) => m.id === partner);
  if (member === undefined) return [`${partner} is not a member of the manifest`];
  const data = (kind: string, name: string): Record<string, string> => {
    const o = byName(objects, kind, name);
    if (o === undefined) problems.push(`no ${kind} ${name}`);
    return (o?.data as Record<string, string> | undefined) ?? {};
  };
  const dir = await mkdtemp(join(tmpdir(), 'wbx-overlay-'));
  try {
    const configFile = join(dir, 'gateway.yaml');
    await writeFile(configFile, data('ConfigMap', 'wbx-gateway-config')['gateway.yaml'] ?? '');
    const config = await loadGatewayConfig(configFile, {}, {}).catch((e: unknown) => {
      problems.push(`gateway.yaml: ${(e as Error).message}`);
      return undefined;
    });
    if (config !== undefined && config.partner !== partner) {
      problems.push(`gateway.yaml: partner ${config.partner}, not ${partner}`);
    }
    const own = data('ConfigMap', 'wbx-partner');
    if (own.partner !== partner) problems.push(`ConfigMap wbx-partner: partner ${String(own.partner)}`);
    const jwk = JSON.parse(own['partner.public.jwk'] ?? '{}') as { x?: string; kid?: string };
    const key = member.signingKeys.find((k) => k.kid === jwk.kid);
    if (key === undefined || key.jwk.x !== jwk.x) {
      problems.push(
        `partner.public.jwk (${String(jwk.kid)}) is not a signing key of ${partner} in the manifest`,
      );
    }
    const agreementsDir = join(dir, 'agreements');
    const files = data('ConfigMap', 'wbx-agreements');
    await mkdir(agreementsDir);
    for (const [name, text] of Object.entries(files)) await writeFile(join(agreementsDir, name), text);
    const log = pino({ level: 'silent' });
    const active = await loadAgreements(
      agreementsDir,
      manifest,
      partner,
      now,
      log,
      RevocationStore.ofData(join(dir, 'data'), log),
    );
    for (const [name, text] of Object.entries(files)) {
      const { payload } = JSON.parse(text) as { payload: string };
      const body = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
      if (body.provider !== partner && body.recipient !== partner) {
        problems.push(
          `wbx-agreements: ${name} is between ${String(body.provider)} and ${String(body.recipient)}`,
        );
      }
    }
    const providers = new Set(active.filter((a) => a.body.recipient === partner).map((a) => a.body.provider));
    const receives = new Set((config?.receive ?? []).map((r) => r.partner));
    if (config !== undefined && [...providers].sort().join() !== [...receives].sort().join()) {
      problems.push(
        `gateway.yaml receives from ${[...receives].join(',') || 'nobody'}, agreements from ${[...providers].join(',') || 'nobody'}`,
      );
    }
    const recipients = new Set(
      active.filter((a) => a.body.provider === partner).map((a) => a.body.recipient),
    );
    const accessText = data('Secret', 'nats-access')['nats-access.conf'] ?? '';
    const access = recipientUsers(Buffer.from(accessText, 'base64').toString('utf8'));
    for (const m of manifest.members) {
      if (m.id === partner) continue;
      const n = access.get(m.id);
      if (n === undefined) problems.push(`nats-access.conf: no account RECIPIENT_${m.id}`);
      else if (n > 0 !== recipients.has(m.id)) {
        problems.push(
          `nats-access.conf: RECIPIENT_${m.id} has ${n} users, agreements ${recipients.has(m.id) ? 'name' : 'do not name'} ${m.id}`,
        );
      }
    }
    for (const id of access.keys()) {
      if (!manifest.members.some((m) => m.id === id && id !== partner)) {
        problems.push(`nats-access.conf: RECIPIENT_${id} is no other member of the manifest`);
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return problems;
}
