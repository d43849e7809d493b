import { stat } from 'node:fs/promises';
import { join } from 'node:path';

import { evaluate, inForce, type ActiveAgreement, type AgreementBody } from '@wbx/agreements';
import type { ManifestBody } from '@wbx/registry';
import type { Logger } from 'pino';

import { listJsonFiles } from './agreement-file.js';
import { AgreementSet } from './agreement-set.js';
import type { RevocationStore } from './revocation-store.js';
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

export interface LoadAgreementsOptions {
  /** Receives the agreements naming the partner that are not active now. */
  readonly inactive?: InactiveAgreement[];
  /** Revocations kept for good (see RevocationStore); without it only the revoked copies in `dir` count. */
  readonly store?: RevocationStore;
}

/**
 * The agreements of `dir` active now that name `partner`, read once (see AgreementSet for the rules:
 * files read safely, a revoked copy wins, revocations recorded in the store). Throws
 * AgreementsUnavailableError when the directory or the store cannot be listed.
 */
export async function loadAgreements(
  dir: string,
  manifest: ManifestBody,
  partner: string,
  now: Date,
  log: Logger,
  options: LoadAgreementsOptions = {},
): Promise<LoadedAgreement[]> {
  const set = new AgreementSet({
    dir,
    manifest,
    partner,
    log,
    ...(options.store === undefined ? {} : { store: options.store }),
  });
  const view = await set.load(now);
  options.inactive?.push(...view.inactive);
  return view.agreements;
}

/**
 * A fingerprint of the directory's agreement files (names, sizes, times, inodes) to notice changes
 * cheaply; stat follows a link (a ConfigMap's `..data` swap changes it) and never opens a file. Throws
 * AgreementsUnavailableError when the directory cannot be listed.
 */
export async function directoryFingerprint(dir: string): Promise<string> {
  const { names, realDir } = await listJsonFiles(dir);
  const parts: string[] = [];
  for (const name of names) {
    const s = await stat(join(realDir, name)).catch(() => undefined);
    parts.push(s === undefined ? `${name}:-` : `${name}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`);
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
