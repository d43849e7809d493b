// What the node's tests against a real nats-server share: partners with keys and a manifest, agreements,
// sealed events, an audit log, and waiting for a condition.
import type { KeyObject } from 'node:crypto';

import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { parseAgreementBody } from '@wbx/agreements';
import { AuditLog, decodeAuditEntry, readAudit, type AuditEntry } from '@wbx/audit';
import { foundFederation, importPrivateJwk, verifyRootManifest, type ManifestBody } from '@wbx/registry';
import { validateEvent, type ValidEvent } from '@wbx/schema';
import { createSealer, type Sealer } from '@wbx/seal';
import { generateEvents } from '@wbx/synth';
import { pino, type Logger } from 'pino';

import type { LoadedAgreement } from '../../src/agreement-set.js';

export const HOUR = 3_600_000;

/** A logger that says nothing, unless WBX_TEST_LOG names a level. */
export const quiet = (): Logger => pino({ level: process.env.WBX_TEST_LOG ?? 'silent' });

export interface Partners {
  readonly manifest: ManifestBody;
  sealer(partner: string): Sealer;
  /** The partner's signing key, as AuditLog and the sealer take it. */
  signer(partner: string): { readonly kid: string; readonly privateKey: KeyObject };
}

/** Partners with signing keys valid since `since` (default: an hour ago), in a manifest listing them all. */
export async function partners(
  ids: readonly string[],
  since = new Date(Date.now() - HOUR),
): Promise<Partners> {
  const founded = await foundFederation(
    ids.map((id) => ({ id, tlsCertSha256: [] })),
    1,
    since,
  );
  const manifest = verifyRootManifest(founded.manifest);
  const signer = (partner: string) => {
    const key = founded.keys.get(partner);
    if (key === undefined) throw new Error(`no key for ${partner}`);
    const { kid, key: privateKey } = importPrivateJwk(key.privateJwk);
    return { kid, privateKey };
  };
  return {
    manifest,
    signer,
    sealer: (partner) => createSealer({ issuer: partner, ...signer(partner) }),
  };
}

/** An agreement in force for a day, as the node holds it once loaded (both signatures checked). */
export function agreement(body: Record<string, unknown>): LoadedAgreement {
  const parsed = parseAgreementBody({
    purposes: ['border-management'],
    legalBasis: 'Test agreement',
    validFrom: new Date(Date.now() - HOUR).toISOString(),
    validUntil: new Date(Date.now() + 24 * HOUR).toISOString(),
    ...body,
  });
  return { file: `${parsed.id}.json`, body: parsed };
}

/** `count` valid generated events of `type` by MK (of 20× as many generated), with persons where it has. */
export function eventsOf(type: string, count: number, seed: string): ValidEvent[] {
  const out: ValidEvent[] = [];
  const from = new Date('2023-09-04T00:00:00Z');
  const to = new Date('2023-09-11T00:00:00Z');
  for (const e of generateEvents({ partner: 'MK', count: count * 20, seed, from, to })) {
    const r = validateEvent(JSON.parse(JSON.stringify(e)));
    if (!r.ok || r.event.type !== type) continue;
    if ((r.event.crossingIrregular?.persons.length ?? 1) === 0) continue;
    out.push(r.event);
    if (out.length === count) return out;
  }
  throw new Error(`only ${out.length} events of ${type} generated`);
}

export async function openAudit(js: JetStreamClient, jsm: JetStreamManager, p: Partners): Promise<AuditLog> {
  return AuditLog.open({ js, jsm, origin: 'MK', signer: p.signer('MK'), checkpointEvery: { ms: 0 } });
}

/** MK's audit entries, oldest first. */
export async function auditEntries(jsm: JetStreamManager): Promise<AuditEntry[]> {
  const out: AuditEntry[] = [];
  for await (const m of readAudit(jsm, 'MK')) out.push(decodeAuditEntry(m.data));
  return out;
}

export { until } from '@wbx/test-helpers';

/** How many messages `stream` holds. */
export async function messages(jsm: JetStreamManager, stream: string): Promise<number> {
  return (await jsm.streams.info(stream)).state.messages;
}
