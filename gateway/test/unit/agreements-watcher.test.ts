import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  draftAgreement,
  revokeAgreement,
  signAgreement,
  type PolicyEvent,
  type SignedAgreement,
} from '@wbx/agreements';
import { decodeManifest, foundFederation, importPrivateJwk, type ManifestBody } from '@wbx/registry';
import { pino, type Logger } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { REVOKED_DIR } from '../../src/revocation-store.js';
import {
  AgreementsWatcher,
  type AgreementsSnapshot,
  type AgreementsWatcherConfig,
} from '../../src/agreements-watcher.js';
import { NatsAccessWriter } from '../../src/nats-access-files.js';

const HOUR = 3_600_000;
const PARTNERS = ['MK', 'RS', 'AL'] as const;
type Partner = (typeof PARTNERS)[number];

let root: string;
let config: AgreementsWatcherConfig & { readonly agreements: string };
let manifest: ManifestBody;
let signers: Map<string, ReturnType<typeof importPrivateJwk>>;
/** The watcher's log lines (JSON), to check what it says and never says. */
let lines: string[];
let log: Logger;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'wbx-watcher-'));
  config = {
    partner: 'MK',
    agreements: join(root, 'agreements'),
    data: join(root, 'data'),
    share: { agreementsPoll: 50 },
  };
  await mkdir(config.agreements);
  const founded = await foundFederation(
    PARTNERS.map((id) => ({ id })),
    1,
    new Date(Date.now() - HOUR),
  );
  manifest = decodeManifest(founded.manifest);
  signers = new Map([...founded.keys].map(([id, k]) => [id, importPrivateJwk(k.privateJwk)]));
  lines = [];
  log = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** An agreement signed by both parties: `provider` shares crossing records with `recipient`. */
async function agreement(
  id: string,
  recipient: Partner,
  options: { provider?: Partner; validFrom?: Date; retentionDays?: number } = {},
): Promise<SignedAgreement> {
  const provider = options.provider ?? 'MK';
  let signed = draftAgreement({
    id,
    provider,
    recipient,
    purposes: ['risk-analysis'],
    legalBasis: 'test',
    validFrom: (options.validFrom ?? new Date(Date.now() - HOUR)).toISOString(),
    validUntil: new Date(Date.now() + 24 * HOUR).toISOString(),
    terms: [
      {
        types: ['crossing.irregular'],
        mode: 'records',
        fields: ['routeSegment'],
        retentionDays: options.retentionDays ?? 30,
      },
    ],
  });
  for (const party of [provider, recipient]) {
    const { key, kid } = signers.get(party)!;
    signed = await signAgreement(signed, key, kid, new Date());
  }
  return signed;
}

async function revoked(signed: SignedAgreement, by: Partner): Promise<SignedAgreement> {
  const { key, kid } = signers.get(by)!;
  return revokeAgreement(signed, key, kid, { at: new Date() });
}

const put = (name: string, content: unknown): Promise<void> =>
  writeFile(join(config.agreements, name), typeof content === 'string' ? content : JSON.stringify(content));

const ids = (s: AgreementsSnapshot): string[] => s.agreements.map((a) => a.body.id);

const crossing: PolicyEvent = { type: 'crossing.irregular', origin: 'MK', claims: { routeSegment: 'GR-MK' } };

describe('AgreementsWatcher', () => {
  it('publishes what the directory holds: the active agreements, the inactive ones, and their policy', async () => {
    await put('mk-rs.json', await agreement('MK-RS-1', 'RS', { retentionDays: 90 }));
    await put('mk-al.json', await agreement('MK-AL-1', 'AL', { validFrom: new Date(Date.now() + HOUR) }));
    await put('rs-al.json', await agreement('RS-AL-1', 'AL', { provider: 'RS' }));
    const watcher = new AgreementsWatcher(config, manifest, log);
    expect(watcher.current.agreements).toEqual([]);
    const snapshot = await watcher.load();
    expect(watcher.current).toBe(snapshot);
    expect(Object.isFrozen(snapshot)).toBe(true);
    expect(snapshot.problem).toBeUndefined();
    expect(ids(snapshot)).toEqual(['MK-RS-1']);
    expect(snapshot.inactive.map((a) => [a.body.id, a.reasons])).toEqual([['MK-AL-1', ['NOT_YET_VALID']]]);
    expect(snapshot.policy.recipients(new Date())).toEqual([{ recipient: 'RS', retentionDays: 90 }]);
    expect(snapshot.policy.grants(crossing, new Date()).map((g) => [g.recipient, g.paths])).toEqual([
      ['RS', ['routeSegment']],
    ]);
  });

  it('hands each new snapshot to its subscribers once, in order, and never changes one it published', async () => {
    await put('mk-rs.json', await agreement('MK-RS-1', 'RS'));
    const watcher = new AgreementsWatcher(config, manifest, log);
    const first = await watcher.load();
    const seen: [string, AgreementsSnapshot][] = [];
    using _a = watcher.subscribe((s) => void seen.push(['a', s]));
    const b = watcher.subscribe((s) => void seen.push(['b', s]));
    await put('mk-al.json', await agreement('MK-AL-1', 'AL'));
    const second = await watcher.load();
    expect(seen).toEqual([
      ['a', second],
      ['b', second],
    ]);
    expect(ids(second)).toEqual(['MK-AL-1', 'MK-RS-1']);
    expect(ids(first)).toEqual(['MK-RS-1']);
    expect(await watcher.load()).toBe(second);
    expect(seen).toHaveLength(2);
    b[Symbol.dispose]();
    await rm(join(config.agreements, 'mk-al.json'));
    const third = await watcher.load();
    expect(seen.slice(2)).toEqual([['a', third]]);
  });

  it('delivers a snapshot again at the next load when a subscriber failed on it', async () => {
    const watcher = new AgreementsWatcher(config, manifest, log);
    await watcher.load();
    const seen: AgreementsSnapshot[] = [];
    using _ = watcher.subscribe((s) => {
      seen.push(s);
      if (seen.length === 1) throw new Error('JetStream unavailable');
    });
    await put('mk-rs.json', await agreement('MK-RS-1', 'RS'));
    const snapshot = await watcher.load();
    await watcher.load();
    await watcher.load();
    expect(seen).toEqual([snapshot, snapshot]);
    expect(lines.some((l) => l.includes('applying the agreements failed'))).toBe(true);
  });

  it('keeps a revocation for good: the unrevoked copy put back does not bring the agreement back', async () => {
    const signed = await agreement('MK-RS-1', 'RS');
    await put('mk-rs.json', signed);
    const watcher = new AgreementsWatcher(config, manifest, log);
    expect(ids(await watcher.load())).toEqual(['MK-RS-1']);
    await put('mk-rs.json', await revoked(signed, 'RS'));
    const after = await watcher.load();
    expect(ids(after)).toEqual([]);
    expect(after.inactive.map((a) => a.reasons)).toEqual([['REVOKED:RS']]);
    expect(after.policy.recipients(new Date())).toEqual([]);
    expect(existsSync(join(config.data, REVOKED_DIR, 'MK-RS-1.json'))).toBe(true);
    await put('mk-rs.json', signed);
    expect(ids(await watcher.load())).toEqual([]);
    // A new watcher (a restart) reads the revocation from the data directory.
    const restarted = new AgreementsWatcher(config, manifest, log);
    expect(ids(await restarted.load())).toEqual([]);
  });

  it('keeps the last good version of a file that turns bad, and logs its name, never its content', async () => {
    await put('mk-rs.json', await agreement('MK-RS-1', 'RS'));
    const secret = join(root, 'secret.json');
    await writeFile(secret, '{"seed": "SUAM-TOP-SECRET"}');
    const watcher = new AgreementsWatcher(config, manifest, log);
    const good = await watcher.load();
    await put('mk-rs.json', '{"payload": "TOP-SECRET-HALF-WRI');
    await symlink(secret, join(config.agreements, 'zz.json'));
    expect(await watcher.load()).toBe(good);
    const refused = lines.map((l) => JSON.parse(l) as { file?: string; code?: string });
    expect(refused).toContainEqual(
      expect.objectContaining({ file: join(config.agreements, 'mk-rs.json'), code: 'AGREEMENT_NOT_JSON' }),
    );
    expect(refused).toContainEqual(
      expect.objectContaining({
        file: join(config.agreements, 'zz.json'),
        code: 'AGREEMENT_SYMLINK_OUTSIDE',
      }),
    );
    expect(lines.join('\n')).not.toContain('SECRET');
  });

  it('fails closed while the directory cannot be read, and resumes when it can', async () => {
    await put('mk-rs.json', await agreement('MK-RS-1', 'RS'));
    const watcher = new AgreementsWatcher(config, manifest, log);
    await watcher.load();
    const seen: AgreementsSnapshot[] = [];
    using _ = watcher.subscribe((s) => void seen.push(s));
    await rename(config.agreements, `${config.agreements}.away`);
    const paused = await watcher.load();
    expect(paused.problem).toBe('AGREEMENTS_DIR_UNREADABLE');
    expect(paused.agreements).toEqual([]);
    expect(paused.policy.grants(crossing, new Date())).toEqual([]);
    expect(paused.policy.recipients(new Date())).toEqual([]);
    expect(await watcher.load()).toBe(paused);
    await rename(`${config.agreements}.away`, config.agreements);
    const resumed = await watcher.load();
    expect(resumed.problem).toBeUndefined();
    expect(ids(resumed)).toEqual(['MK-RS-1']);
    expect(seen).toEqual([paused, resumed]);
  });

  it('loads by itself once started, when the directory changes', async () => {
    const watcher = new AgreementsWatcher(config, manifest, log);
    await watcher.load();
    const next = new Promise<AgreementsSnapshot>((resolve) => {
      watcher.subscribe(resolve);
    });
    watcher.start();
    try {
      await put('mk-rs.json', await agreement('MK-RS-1', 'RS'));
      expect(ids(await next)).toEqual(['MK-RS-1']);
    } finally {
      await watcher.stop();
    }
  });
});

describe('NatsAccessWriter', () => {
  it('follows the snapshots: a user per recipient, none left for one without an agreement, none touched while paused', async () => {
    const access = join(root, 'nats-access');
    await put('mk-rs.json', await agreement('MK-RS-1', 'RS'));
    const watcher = new AgreementsWatcher(config, manifest, log);
    const writer = new NatsAccessWriter(access);
    const started = await writer.write(await watcher.load());
    expect(started.text).toContain('RECIPIENT_RS');
    expect(started.files.gatewayNkeyFile).toBe(join(access, 'gateway.nkey'));
    const reloads: string[] = [];
    using _ = writer.follow(watcher, { reload: (text) => Promise.resolve(void reloads.push(text)) });
    await put('mk-al.json', await agreement('MK-AL-1', 'AL'));
    await watcher.load();
    expect(reloads).toHaveLength(1);
    expect(reloads[0]).toContain('RECIPIENT_AL');
    const alSeed = await readFile(join(access, 'AL.nkey'), 'utf8');
    await rename(config.agreements, `${config.agreements}.away`);
    expect((await watcher.load()).problem).toBe('AGREEMENTS_DIR_UNREADABLE');
    expect(reloads).toHaveLength(1);
    expect(await readFile(join(access, 'AL.nkey'), 'utf8')).toBe(alSeed);
    await rm(join(`${config.agreements}.away`, 'mk-al.json'));
    await rename(`${config.agreements}.away`, config.agreements);
    await watcher.load();
    expect(reloads).toHaveLength(2);
    expect(reloads[1]).toContain('RECIPIENT_RS');
    expect(reloads[1]).not.toContain('RECIPIENT_AL');
    expect(existsSync(join(access, 'AL.nkey'))).toBe(false);
    expect(existsSync(join(access, 'RS.nkey'))).toBe(true);
  });

  it('has the server reload again at the next load when a reload failed', async () => {
    const watcher = new AgreementsWatcher(config, manifest, log);
    const writer = new NatsAccessWriter(join(root, 'nats-access'));
    await writer.write(await watcher.load());
    const reloads: string[] = [];
    const server = {
      reload(text: string): Promise<void> {
        reloads.push(text);
        return reloads.length === 1 ? Promise.reject(new Error('reload failed')) : Promise.resolve();
      },
    };
    using _ = writer.follow(watcher, server);
    await put('mk-rs.json', await agreement('MK-RS-1', 'RS'));
    await watcher.load();
    await watcher.load();
    await watcher.load();
    expect(reloads).toHaveLength(2);
    expect(reloads[1]).toBe(reloads[0]);
    expect(reloads[1]).toContain('RECIPIENT_RS');
  });
});
