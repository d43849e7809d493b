// The agreements directory as a hostile or careless hand leaves it, on real gateways (embedded
// nats-server): revocations that cannot be undone (issue 12, finding 3), a watcher that never blocks and
// fails closed (finding 4), no file content in the log (finding 8), and a half-written file that changes
// nothing (issue 14).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { jetstreamManager } from '@nats-io/jetstream';
import { draftAndSign, revokeAgreement, type SignedAgreement } from '@wbx/agreements';
import { validateEvent, type ValidEvent } from '@wbx/schema';
import { generateEvents } from '@wbx/synth';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import YAML from 'yaml';

import { loadGatewayConfig } from '@wbx/gateway';
import { Gateway } from '@wbx/gateway';
import { GATEWAY_NKEY_FILE } from '@wbx/gateway';
import { REVOKED_DIR } from '@wbx/gateway';
import { wbx, wbxBinary } from '@wbx/cli';
import { startFederation, type Federation } from '@wbx/fixtures';
import { startGatewayProcess, until } from '@wbx/test-helpers';
import { submitAll } from '../support/submit.js';

const WBX = wbxBinary();

let fed: Federation;
let logs: string[];
const running: Gateway[] = [];

beforeEach(async () => {
  fed = await startFederation(['MK', 'RS', 'AL']);
  logs = [];
});

afterEach(async () => {
  for (const g of running.splice(0).reverse()) await g.stop();
  await fed[Symbol.asyncDispose]();
});

/** A gateway like the federation's, whose log (debug and up) goes to `logs`. */
async function start(partner: string, receiveFrom: readonly Gateway[] = []): Promise<Gateway> {
  const config = await loadGatewayConfig(
    undefined,
    {},
    {
      partner,
      key: fed.identity.keyFile(partner),
      manifest: fed.identity.manifestFile,
      data: join(fed.dir, 'data', partner),
      agreements: fed.agreementsDir(partner),
      receive: receiveFrom.map((origin) => ({
        partner: origin.config.partner,
        url: origin.natsUrl,
        nkeyFile: join(origin.accessDir ?? '', `${partner}.nkey`),
      })),
      'grpc.listen': '127.0.0.1:0',
      'grpc.insecure': true,
      'http.listen': '127.0.0.1:0',
      'share.agreementsPoll': 200,
      'share.flushEvery': 200,
    },
  );
  const log = pino({ level: 'debug' }, { write: (line: string) => void logs.push(line) });
  const gateway = await Gateway.start(config, { log, drainMs: 2_000 });
  running.push(gateway);
  return gateway;
}

const body = (id: string, recipient = 'RS'): Record<string, unknown> => ({
  id,
  provider: 'MK',
  recipient,
  purposes: ['border-management'],
  legalBasis: 'Test agreement under the Skopje Declaration',
  validFrom: new Date(Date.now() - 3_600_000).toISOString(),
  validUntil: new Date(Date.now() + 30 * 86_400_000).toISOString(),
  terms: [
    {
      types: ['crossing.irregular'],
      mode: 'records',
      fields: ['occurredAt', 'routeSegment'],
      retentionDays: 7,
    },
  ],
});

const ids = (g: Gateway): string[] => g.agreements.map((a) => a.body.id);
const mkFile = (name: string): string => join(fed.agreementsDir('MK'), name);

async function revoke(signed: SignedAgreement, by: string): Promise<SignedAgreement> {
  const k = fed.key(by);
  return revokeAgreement(signed, k.key, k.kid, { at: new Date() });
}

let sentinels = 0;
/**
 * Adds a new agreement (MK → AL) and waits until MK holds it: the load that saw it listed the directory
 * after every earlier write, so what MK holds then is its verdict on those writes.
 */
async function sentinel(mk: Gateway): Promise<string> {
  const id = `MK-AL-sentinel-${++sentinels}`;
  await fed.agree(body(id, 'AL'));
  await until(id, () => ids(mk).includes(id));
  return id;
}

function crossings(count: number, seed: string): ValidEvent[] {
  const out: ValidEvent[] = [];
  for (const e of generateEvents({
    partner: 'MK',
    count: count * 10,
    seed,
    from: new Date('2023-09-01'),
    to: new Date('2023-09-05'),
  })) {
    if (e.type !== 'crossing.irregular') continue;
    const r = validateEvent(JSON.parse(JSON.stringify(e)));
    if (!r.ok) throw new Error('invalid generated event');
    out.push(r.event);
    if (out.length === count) break;
  }
  return out;
}

const messages = async (g: Gateway, stream: string): Promise<number> =>
  (await (await jetstreamManager(g.nats)).streams.info(stream)).state.messages;

async function readyz(g: Gateway): Promise<{ status: number; reasons: string[] }> {
  const res = await fetch(`http://${g.httpAddress}/readyz`);
  return { status: res.status, reasons: ((await res.json()) as { reasons: string[] }).reasons };
}

describe('revocations are permanent (issue 12, finding 3)', () => {
  it('keeps an agreement revoked when its pre-revocation copy comes back, under its name or another, and after a restart', async () => {
    const original = await fed.agree(body('MK-RS-keep'));
    const mk = await start('MK');
    const rsNkey = join(mk.accessDir ?? '', 'RS.nkey');
    expect(ids(mk)).toContain('MK-RS-keep');
    expect(existsSync(rsNkey)).toBe(true);
    const revoked = await revoke(original, 'RS');
    await writeFile(mkFile('MK-RS-keep.json'), JSON.stringify(revoked));
    await until('the revocation', () => !ids(mk).includes('MK-RS-keep'));
    expect(existsSync(rsNkey)).toBe(false);

    // The old copy put back under its own name: still revoked, no credentials made for RS.
    await writeFile(mkFile('MK-RS-keep.json'), JSON.stringify(original));
    const first = await sentinel(mk);
    expect(ids(mk)).not.toContain('MK-RS-keep');
    expect(existsSync(rsNkey)).toBe(false);

    // Beside it under another name, and the revoked copy back as well: the revoked copy wins.
    await writeFile(mkFile('MK-RS-keep.json'), JSON.stringify(revoked));
    await writeFile(mkFile('0-older-copy.json'), JSON.stringify(original));
    await sentinel(mk);
    expect(ids(mk)).not.toContain('MK-RS-keep');

    // The revoked file gone, only the old copies left, and a restart: the revocation was kept.
    await rm(mkFile('MK-RS-keep.json'));
    await writeFile(mkFile('zz-older-copy.json'), JSON.stringify(original));
    await sentinel(mk);
    expect(ids(mk)).not.toContain('MK-RS-keep');
    await mk.stop();
    const again = await start('MK');
    expect(ids(again)).toContain(first);
    expect(ids(again)).not.toContain('MK-RS-keep');
    expect(again.agreements.every((a) => a.body.recipient !== 'RS')).toBe(true);
    expect(existsSync(rsNkey)).toBe(false);

    const stored = join(fed.dir, 'data', 'MK', REVOKED_DIR, 'MK-RS-keep.json');
    expect((await stat(stored)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(stored, 'utf8'))).toEqual(revoked);
  });

  it('records no revocation from a copy both parties did not sign (a partner cannot revoke others by id)', async () => {
    await fed.agree(body('MK-AL-target', 'AL'));
    const mk = await start('MK');
    // RS makes up an agreement with the same id, signs it alone, and revokes it.
    const k = fed.key('RS');
    const forged = { ...body('MK-AL-target', 'MK'), provider: 'RS' };
    let signed = await draftAndSign(forged, [k], new Date());
    signed = await revokeAgreement(signed, k.key, k.kid, { at: new Date() });
    await writeFile(mkFile('0-forged.json'), JSON.stringify(signed));
    await sentinel(mk);
    expect(ids(mk)).toContain('MK-AL-target');
    expect(existsSync(join(fed.dir, 'data', 'MK', REVOKED_DIR, 'MK-AL-target.json'))).toBe(false);
  });

  it('wbx nats-config keeps a revocation it has seen, and honours those the gateway recorded (--data)', async () => {
    const original = await fed.agree(body('MK-RS-cli'));
    const other = await fed.agree(body('MK-AL-cli', 'AL'));
    const out = join(fed.dir, 'access-cli');
    const args = [
      'nats-config',
      '--partner',
      'MK',
      '--manifest',
      fed.identity.manifestFile,
      '--agreements',
      fed.agreementsDir('MK'),
      '--out',
      out,
    ];
    expect((await wbx(args, { now: new Date() })).stdout).toContain('RS: hand over');
    await writeFile(mkFile('MK-RS-cli.json'), JSON.stringify(await revoke(original, 'MK')));
    expect((await wbx(args, { now: new Date(Date.now() + 1_000) })).stdout).not.toContain('RS: hand over');
    await writeFile(mkFile('MK-RS-cli.json'), JSON.stringify(original));
    const r = await wbx(args, { now: new Date(Date.now() + 2_000) });
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('RS: hand over');
    expect(existsSync(join(out, 'RS.nkey'))).toBe(false);

    // The gateway recorded a revocation of MK-AL-cli in its data directory; only the old copy is left.
    const data = join(fed.dir, 'data', 'MK');
    await mkdir(join(data, REVOKED_DIR), { recursive: true });
    await writeFile(join(data, REVOKED_DIR, 'MK-AL-cli.json'), JSON.stringify(await revoke(other, 'AL')));
    expect((await wbx(args, { now: new Date(Date.now() + 3_000) })).stdout).toContain('AL: hand over');
    const honoured = await wbx([...args, '--data', data], { now: new Date(Date.now() + 3_000) });
    expect(honoured.stdout).not.toContain('AL: hand over');
    expect(honoured.stdout).toContain('no active agreement');
    // …and the revocation of MK-RS-cli seen here is now recorded for the gateway too.
    expect(existsSync(join(data, REVOKED_DIR, 'MK-RS-cli.json'))).toBe(true);
  });
});

describe('the watcher never blocks and fails closed (issue 12, finding 4; issue 14)', () => {
  it('applies a revocation written while a directory and a FIFO named *.json sit in the directory, and stops', async () => {
    const original = await fed.agree(body('MK-RS-fifo'));
    const mk = await start('MK');
    expect(ids(mk)).toContain('MK-RS-fifo');
    // Read before the revoked file (names sort: digits, upper case, lower case).
    execFileSync('mkfifo', [mkFile('0-fifo.json')]);
    await mkdir(mkFile('1-directory.json'));
    await writeFile(mkFile('MK-RS-fifo.json'), JSON.stringify(await revoke(original, 'MK')));
    await until('the revocation', () => !ids(mk).includes('MK-RS-fifo'));
    await sentinel(mk);
    const refused = logs.filter((l) => l.includes('AGREEMENT_NOT_REGULAR_FILE')).join('\n');
    expect(refused).toContain('0-fifo.json');
    expect(refused).toContain('1-directory.json');
    running.splice(running.indexOf(mk), 1);
    await mk.stop(); // with the old watcher, the FIFO's read never returned and this never did
  });

  it('exits on SIGTERM with a FIFO in the agreements directory (wbx gateway)', async () => {
    await fed.agree(body('MK-RS-term'));
    const configFile = join(fed.dir, 'mk-gateway.yaml');
    const config = {
      partner: 'MK',
      key: fed.identity.keyFile('MK'),
      manifest: fed.identity.manifestFile,
      data: join(fed.dir, 'data', 'MK'),
      agreements: fed.agreementsDir('MK'),
      grpc: { listen: '127.0.0.1:0', insecure: true },
      http: { listen: '127.0.0.1:0' },
      share: { agreementsPoll: 200 },
      log: { level: 'info' },
    };
    await writeFile(configFile, YAML.stringify(config));
    await using gateway = await startGatewayProcess(WBX, ['--config', configFile], { group: true });
    execFileSync('mkfifo', [mkFile('0-fifo.json')]);
    // A load that started after the FIFO was there has finished once MK holds a new agreement.
    await fed.agree(body('MK-AL-after-fifo', 'AL'));
    await until('a load past the FIFO', () => gateway.stderr().includes('MK-AL-after-fifo'));
    expect(gateway.stderr()).toContain('AGREEMENT_NOT_REGULAR_FILE');
    gateway.process.kill('SIGTERM');
    expect(await gateway.exit(15_000)).toBe(0);
  });

  it('keeps the last good version of a file that is half written or does not verify; credentials stay', async () => {
    const original = await fed.agree(body('MK-RS-half'));
    const mk = await start('MK');
    const rsNkey = join(mk.accessDir ?? '', 'RS.nkey');
    const seed = await readFile(rsNkey, 'utf8');
    const text = JSON.stringify(original);
    await writeFile(mkFile('MK-RS-half.json'), text.slice(0, text.length / 2));
    await sentinel(mk);
    expect(ids(mk)).toContain('MK-RS-half');
    expect(await readFile(rsNkey, 'utf8')).toBe(seed);
    const [first, second] = original.signatures;
    const broken = {
      ...second!,
      signature: `${second!.signature.startsWith('A') ? 'B' : 'A'}${second!.signature.slice(1)}`,
    };
    await writeFile(mkFile('MK-RS-half.json'), JSON.stringify({ ...original, signatures: [first, broken] }));
    await sentinel(mk);
    expect(ids(mk)).toContain('MK-RS-half');
    expect(await readFile(rsNkey, 'utf8')).toBe(seed);
    expect(logs.some((l) => l.includes('AGREEMENT_NOT_JSON') && l.includes('MK-RS-half.json'))).toBe(true);
    // A valid revocation does replace it.
    await writeFile(mkFile('MK-RS-half.json'), JSON.stringify(await revoke(original, 'MK')));
    await until('the revocation', () => !ids(mk).includes('MK-RS-half'));
  });

  it('pauses sharing while the directory cannot be read (nothing purged, credentials kept), says so on /readyz, and resumes', async () => {
    await fed.agree(body('MK-RS-gone'));
    const mk = await start('MK');
    const rs = await start('RS', [mk]);
    await submitAll(mk, crossings(20, 'before'));
    await until('RS inbox', async () => (await messages(rs, 'WBX_INBOX')) === 20);
    const rsNkey = join(mk.accessDir ?? '', 'RS.nkey');
    const seed = await readFile(rsNkey, 'utf8');
    expect((await readyz(mk)).status).toBe(200);

    const dir = fed.agreementsDir('MK');
    await rename(dir, `${dir}.away`);
    const paused = await until('/readyz 503', async () => {
      const r = await readyz(mk);
      return r.status === 503 ? r : undefined;
    });
    expect(paused.reasons.join(' ')).toContain('AGREEMENTS_DIR_UNREADABLE');
    expect(mk.agreements).toEqual([]);
    const held = crossings(20, 'during');
    await submitAll(mk, held);
    const jsm = await jetstreamManager(mk.nats);
    const last = (await jsm.streams.info('WBX_EVENTS')).state.last_seq;
    await until(
      'the share worker saw every event',
      async () => (await jsm.consumers.info('WBX_EVENTS', 'wbx-share')).delivered.stream_seq >= last,
    );
    expect(await messages(mk, 'WBX_SHARE_RS')).toBe(20);
    expect((await jsm.consumers.info('WBX_EVENTS', 'wbx-share')).ack_floor.stream_seq).toBeLessThan(last);
    expect(await readFile(rsNkey, 'utf8')).toBe(seed);
    expect(logs.some((l) => l.includes('sharing paused') && l.includes('"level":50'))).toBe(true);

    await rename(`${dir}.away`, dir);
    await until('/readyz 200', async () => (await readyz(mk)).status === 200);
    await until('the held events shared', async () => (await messages(rs, 'WBX_INBOX')) === 40, 20_000);
    expect(await readFile(rsNkey, 'utf8')).toBe(seed);
    expect(ids(mk)).toEqual(['MK-RS-gone']);
  });
});

describe('no file content reaches the log (issue 12, finding 8)', () => {
  it('refuses a link out of the directory by name and code, logs no byte of a file, and follows ConfigMap links inside', async () => {
    const mk = await start('MK');
    const seed = (await readFile(join(mk.accessDir ?? '', GATEWAY_NKEY_FILE), 'utf8')).trim();
    await symlink(join(mk.accessDir ?? '', GATEWAY_NKEY_FILE), mkFile('zz.json'));
    await copyFile(join(mk.accessDir ?? '', GATEWAY_NKEY_FILE), mkFile('zz-copy.json'));
    // A Kubernetes ConfigMap mount: MK-RS-cm.json -> ..data/MK-RS-cm.json, ..data -> ..2024_06_01.
    const signed = await fed.agree(body('MK-RS-cm'));
    await rm(mkFile('MK-RS-cm.json'));
    await mkdir(mkFile('..2024_06_01'));
    await writeFile(join(mkFile('..2024_06_01'), 'MK-RS-cm.json'), JSON.stringify(signed));
    await symlink('..2024_06_01', mkFile('..data'));
    await symlink(join('..data', 'MK-RS-cm.json'), mkFile('MK-RS-cm.json'));
    await sentinel(mk);
    expect(ids(mk)).toContain('MK-RS-cm');
    const text = logs.join('');
    for (let i = 0; i + 10 <= seed.length; i += 5) expect(text).not.toContain(seed.slice(i, i + 10));
    expect(logs.some((l) => l.includes('AGREEMENT_SYMLINK_OUTSIDE') && l.includes('zz.json'))).toBe(true);
    expect(logs.some((l) => l.includes('AGREEMENT_NOT_JSON') && l.includes('zz-copy.json'))).toBe(true);
  });
});
