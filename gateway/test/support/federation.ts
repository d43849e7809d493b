import { sign } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { draftAgreement, signAgreement, type SignedAgreement } from '@wbx/agreements';
import { importPrivateJwk } from '@wbx/registry';
import { pino } from 'pino';

import { loadGatewayConfig } from '../../src/node/config.js';
import { Gateway } from '../../src/node/gateway.js';
import { makeIdentity, type Identity } from './identity.js';

export interface Federation extends AsyncDisposable {
  readonly dir: string;
  readonly identity: Identity;
  /** The agreements directory of a partner (as provider or recipient). */
  agreementsDir(partner: string): string;
  /**
   * Drafts an agreement, has both parties sign it (or the given signers), and writes it into both
   * parties' directories.
   */
  agree(body: Record<string, unknown>, signers?: readonly string[]): Promise<SignedAgreement>;
  /** Writes an agreement document (e.g. with a revocation) into both parties' directories. */
  put(signed: SignedAgreement, provider: string, recipient: string, id: string): Promise<void>;
  key(partner: string): Promise<ReturnType<typeof importPrivateJwk>>;
  /** Starts a partner's gateway with an embedded nats-server; `receiveFrom` lists the origins it reads. */
  start(
    partner: string,
    options?: { receiveFrom?: Gateway[]; settings?: Record<string, unknown>; now?: () => Date },
  ): Promise<Gateway>;
}

/** Partners with keys, a manifest that trusts all of them, agreements, and gateways on loopback. */
export async function startFederation(
  partners: readonly string[],
  /** TLS certificate pins per partner, for Exchange. */
  pins: Readonly<Record<string, readonly string[]>> = {},
): Promise<Federation> {
  const dir = await mkdtemp(join(tmpdir(), 'wbx-fed-'));
  const identity = await makeIdentity(dir, partners, pins);
  const gateways: Gateway[] = [];
  const agreementsDir = (p: string): string => join(dir, 'agreements', p);
  for (const p of partners) await mkdir(agreementsDir(p), { recursive: true });
  const key = async (p: string) => importPrivateJwk(JSON.parse(await readFile(identity.keyFile(p), 'utf8')));
  const put = async (
    signed: SignedAgreement,
    provider: string,
    recipient: string,
    id: string,
  ): Promise<void> => {
    for (const p of [provider, recipient])
      await writeFile(join(agreementsDir(p), `${id}.json`), JSON.stringify(signed));
  };
  return {
    dir,
    identity,
    agreementsDir,
    key,
    put,
    async agree(body, signers) {
      let signed = draftAgreement(body);
      const provider = String(body.provider);
      const recipient = String(body.recipient);
      for (const p of signers ?? [provider, recipient]) {
        const k = await key(p);
        if (p === provider || p === recipient) {
          signed = await signAgreement(signed, k.key, k.kid, new Date());
          continue;
        }
        // signAgreement refuses a non-party's key: craft that signature by hand, as an attacker would.
        const header = {
          alg: 'EdDSA',
          typ: 'wbx-agreement+jws',
          kid: k.kid,
          iat: Math.floor(Date.now() / 1000),
        };
        const prot = Buffer.from(JSON.stringify(header)).toString('base64url');
        const signature = sign(null, Buffer.from(`${prot}.${signed.payload}`), k.key).toString('base64url');
        signed = { ...signed, signatures: [...signed.signatures, { protected: prot, signature }] };
      }
      await put(signed, provider, recipient, String(body.id));
      return signed;
    },
    async start(partner, options = {}) {
      const receive = (options.receiveFrom ?? []).map((origin) => ({
        partner: origin.config.partner,
        url: origin.natsUrl,
        nkeyFile: join(origin.accessDir ?? '', `${partner}.nkey`),
      }));
      const config = await loadGatewayConfig(
        undefined,
        {},
        {
          partner,
          key: identity.keyFile(partner),
          manifest: identity.manifestFile,
          data: join(dir, 'data', partner),
          agreements: agreementsDir(partner),
          receive,
          'grpc.listen': '127.0.0.1:0',
          'grpc.insecure': true,
          'http.listen': '127.0.0.1:0',
          'share.agreementsPoll': 200,
          'share.flushEvery': 200,
          'share.aggregateGrace': 0,
          'share.aggregateSettle': 500,
          ...options.settings,
        },
      );
      const gateway = await Gateway.start(config, {
        log: pino({ level: process.env.WBX_TEST_LOG ?? 'silent' }),
        drainMs: 2_000,
        ...(options.now === undefined ? {} : { now: options.now }),
      });
      gateways.push(gateway);
      return gateway;
    },
    async [Symbol.asyncDispose]() {
      for (const g of gateways.reverse()) await g.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
