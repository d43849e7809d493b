import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

import {
  agreementStatus,
  AgreementError,
  evaluate,
  inForce,
  type ActiveAgreement,
  type AgreementBody,
} from '@wbx/agreements';
import type { ManifestBody } from '@wbx/registry';
import type { Logger } from 'pino';

import type { ShareGrant, SharePolicy } from './share-policy.js';

export interface LoadedAgreement extends ActiveAgreement {
  readonly file: string;
}

/** An agreement naming this partner that is not active now, and why (agreementStatus reasons). */
export interface InactiveAgreement {
  readonly file: string;
  readonly body: AgreementBody;
  readonly reasons: readonly string[];
}

/**
 * Every file of the agreements directory that is an agreement active now and names this partner; those
 * that name it but are not active go to `inactive`, if given.
 */
export async function loadAgreements(
  dir: string,
  manifest: ManifestBody,
  partner: string,
  now: Date,
  log: Logger,
  inactive?: InactiveAgreement[],
): Promise<LoadedAgreement[]> {
  const out: LoadedAgreement[] = [];
  for (const name of (await readdir(dir)).filter((f) => f.endsWith('.json')).sort()) {
    const file = join(dir, name);
    try {
      const status = agreementStatus(JSON.parse(await readFile(file, 'utf8')), manifest, now);
      const { body } = status;
      if (body.provider !== partner && body.recipient !== partner) continue;
      if (!status.active) {
        log.info({ file, agreement: body.id, reasons: status.reasons }, 'agreement not active');
        inactive?.push({ file, body, reasons: status.reasons });
        continue;
      }
      out.push({ file, body, ...(status.revokedAt === undefined ? {} : { revokedAt: status.revokedAt }) });
    } catch (e) {
      if (!(e instanceof AgreementError) && !(e instanceof SyntaxError)) throw e;
      log.warn({ file, err: e }, 'agreement file refused');
    }
  }
  return out;
}

/** A fingerprint of the directory's agreement files (names, sizes, times) to notice changes cheaply. */
export async function directoryFingerprint(dir: string): Promise<string> {
  const parts: string[] = [];
  for (const name of (await readdir(dir)).filter((f) => f.endsWith('.json')).sort()) {
    const s = await stat(join(dir, name)).catch(() => undefined);
    if (s !== undefined) parts.push(`${name}:${s.size}:${s.mtimeMs}`);
  }
  return parts.join('|');
}

/** The sharer's policy over the agreements where `partner` is the provider. */
export function sharePolicy(agreements: readonly ActiveAgreement[], partner: string): SharePolicy {
  const provided = agreements.filter((a) => a.body.provider === partner);
  return {
    grants(event, now): ShareGrant[] {
      return [...evaluate(provided, event, undefined, now).values()].map((g) => ({
        recipient: g.recipient,
        agreementIds: g.agreementIds,
        paths: g.paths,
        aggregates: g.aggregates.map((a) => ({ recipient: g.recipient, ...a })),
      }));
    },
    recipients(now) {
      const retention = new Map<string, number>();
      for (const a of provided) {
        if (!inForce(a, now.getTime())) continue;
        const days = Math.max(...a.body.terms.map((t) => t.retentionDays));
        retention.set(a.body.recipient, Math.max(retention.get(a.body.recipient) ?? 0, days));
      }
      return [...retention].map(([id, retentionDays]) => ({ id, retentionDays }));
    },
  };
}
