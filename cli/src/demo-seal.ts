import { createPrivateKey, type JsonWebKey } from 'node:crypto';

import { foundFederation, verifyRootManifest } from '@wbx/registry';
import type { ValidEvent } from '@wbx/schema';
import { createSealer, disclose, SealError, verifyPresentation } from '@wbx/seal';

import { write, type CliIo } from './io.js';
import { renderTable } from './table.js';

/** What MK shows RS in the demo: an illustrative set of fields until agreements exist. */
export const DEMO_RS_FIELDS = [
  'occurredAt',
  'routeSegment',
  'direction',
  'persons.citizenship',
  'persons.sex',
  'persons.ageBand',
  'persons.unaccompaniedMinor',
  'migrantsCount',
  'modusOperandi',
] as const;

const NAMES: Record<string, string> = { MK: 'North Macedonia', RS: 'Serbia', AL: 'Albania' };

function show(value: unknown): string {
  if (value === undefined) return '— withheld';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

/**
 * The sealed-events part of the demo: keys for MK, RS and AL, a federation manifest signed by all three
 * (threshold 2), MK's day sealed as SD-JWTs, a presentation for RS with only some fields, verified
 * against the manifest, and a tampered token refused.
 */
export async function sealDemo(io: CliIo, mkEvents: readonly ValidEvent[]): Promise<boolean> {
  const now = io.now();
  const founders = ['MK', 'RS', 'AL'].map((id) => ({ id, name: NAMES[id] ?? id }));
  const { keys, manifest: signed } = await foundFederation(founders, 2, new Date(now.getTime() - 3_600_000));
  const manifest = verifyRootManifest(signed);
  await write(
    io.stdout,
    `Federation manifest v${manifest.version}: ${manifest.members.map((m) => m.id).join(', ')}, ` +
      `threshold ${manifest.threshold}, signed by ${signed.signatures.length}\n`,
  );

  const mk = keys.get('MK');
  if (mk === undefined) return false;
  const sealer = createSealer({
    issuer: 'MK',
    kid: mk.kid,
    privateKey: createPrivateKey({ key: mk.privateJwk as unknown as JsonWebKey, format: 'jwk' }),
  });
  const started = performance.now();
  const tokens = mkEvents.map((e) => sealer.seal(e, { now }));
  const sealMs = performance.now() - started;
  const bytes = tokens.reduce((s, t) => s + t.length, 0);
  await write(
    io.stdout,
    `MK sealed ${tokens.length} events as SD-JWTs (EdDSA, ${mk.kid}) in ${sealMs.toFixed(0)} ms, ` +
      `${Math.round(bytes / Math.max(1, tokens.length))} bytes each on average\n`,
  );

  let verified = 0;
  let refused = 0;
  let sample: { event: ValidEvent; claims: Readonly<Record<string, unknown>> } | undefined;
  for (const [i, token] of tokens.entries()) {
    try {
      const v = verifyPresentation(disclose(token, DEMO_RS_FIELDS), { manifest, now });
      verified += 1;
      const event = mkEvents[i];
      if (sample === undefined && event?.type === 'crossing.irregular') sample = { event, claims: v.claims };
    } catch (e) {
      if (!(e instanceof SealError)) throw e;
      refused += 1;
    }
  }
  await write(
    io.stdout,
    `RS received ${tokens.length} presentations with ${DEMO_RS_FIELDS.join(', ')}: ` +
      `${verified} verified against the manifest, ${refused} refused\n\n`,
  );

  if (sample !== undefined) {
    const body = sample.event.crossingIrregular;
    const persons = (sample.claims.persons ?? []) as Record<string, unknown>[];
    const first = persons[0] ?? {};
    const person = body?.persons[0];
    const rows: string[][] = [
      ['occurredAt', show(sample.event.occurredAt), show(sample.claims.occurredAt)],
      ['recordedAt', show(sample.event.recordedAt), show(sample.claims.recordedAt)],
      ['borderSection', show(body?.borderSection), show(sample.claims.borderSection)],
      ['routeSegment', show(body?.routeSegment), show(sample.claims.routeSegment)],
      ['direction', show(body?.direction), show(sample.claims.direction)],
      ['location', show(body?.location), show(sample.claims.location)],
      ['detectionMethod', show(body?.detectionMethod), show(sample.claims.detectionMethod)],
      ['facilitatorSuspected', show(body?.facilitatorSuspected), show(sample.claims.facilitatorSuspected)],
      ['persons (count)', String(body?.persons.length ?? 0), String(persons.length)],
      ['persons[0].subjectRef', show(person?.subjectRef), show(first.subjectRef)],
      ['persons[0].citizenship', show(person?.citizenship), show(first.citizenship)],
      ['persons[0].sex', show(person?.sex), show(first.sex)],
      ['persons[0].ageBand', show(person?.ageBand), show(first.ageBand)],
      ['persons[0].unaccompaniedMinor', show(person?.unaccompaniedMinor), show(first.unaccompaniedMinor)],
    ];
    await write(io.stdout, `What RS can and cannot see of MK's crossing ${sample.event.eventId}\n`);
    await write(io.stdout, `${renderTable(['field', 'MK (origin)', 'RS (presentation)'], rows)}\n\n`);
  }

  // Tamper: claim the event is of another type, keeping MK's signature.
  const [header = '', payload = '', rest = ''] = (tokens[0] ?? '').split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
  claims.wbx_type = claims.wbx_type === 'asylum.decision' ? 'return.decision' : 'asylum.decision';
  const tampered = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${rest}`;
  let tamperCode = 'ACCEPTED';
  try {
    verifyPresentation(tampered, { manifest, now });
  } catch (e) {
    if (e instanceof SealError) tamperCode = e.code;
  }
  await write(io.stdout, `A token whose wbx_type was changed after sealing: refused (${tamperCode})\n`);
  return refused === 0 && tamperCode !== 'ACCEPTED';
}
