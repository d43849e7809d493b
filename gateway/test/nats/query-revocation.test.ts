import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { parseAgreementBody } from '@wbx/agreements';
import { AuditLog } from '@wbx/audit';
import type { QueryResponse } from '@wbx/proto';
import { generateSigningKey, importPrivateJwk, type ManifestBody } from '@wbx/registry';
import { validateEvent } from '@wbx/schema';
import { createSealer } from '@wbx/seal';
import { generateEvents } from '@wbx/synth';
import { startNatsServer } from '@wbx/test-helpers';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';

import type { LoadedAgreement } from '../../src/agreement-set.js';
import type { ExchangeContext } from '../../src/exchange/access.js';
import { ExchangeError } from '../../src/exchange/errors.js';
import { Pseudonyms } from '../../src/exchange/pseudonyms.js';
import { planQuery, runQuery } from '../../src/exchange/query.js';
import { ensureStream, eventsStreamConfig } from '../../src/streams.js';

describe('Exchange.Query and a revocation while it runs', () => {
  it('stops before the next batch once the agreement is no longer active: nothing more is sent or audited', async () => {
    await using nats = await startNatsServer();
    const nc = await connect({ servers: nats.url });
    try {
      const js = jetstream(nc);
      const jsm = await jetstreamManager(nc);
      await ensureStream(
        jsm,
        eventsStreamConfig('MK', { maxAge: 0, maxBytes: -1, duplicateWindow: 60_000, replicas: 1 }),
      );
      const key = importPrivateJwk(generateSigningKey('MK', new Date(Date.now() - 60_000)).privateJwk);
      const sealer = createSealer({ issuer: 'MK', kid: key.kid, privateKey: key.key });
      const now = new Date();
      let published = 0;
      for (const e of generateEvents({
        partner: 'MK',
        count: 3_000,
        seed: 'revoke',
        from: new Date('2023-09-01'),
        to: new Date('2023-09-10'),
      })) {
        if (e.type !== 'crossing.irregular') continue;
        const r = validateEvent(JSON.parse(JSON.stringify(e)), { now });
        if (!r.ok) throw new Error('invalid generated event');
        await js.publish(`wbx.evt.MK.${r.event.type}`, sealer.seal(r.event, { now }), {
          msgID: r.event.eventId,
        });
        if (++published === 700) break;
      }
      const body = parseAgreementBody({
        id: 'MK-RS-Q',
        provider: 'MK',
        recipient: 'RS',
        purposes: ['risk-analysis'],
        legalBasis: 'test',
        validFrom: new Date(Date.now() - 3_600_000).toISOString(),
        validUntil: new Date(Date.now() + 86_400_000).toISOString(),
        terms: [
          { types: ['crossing.irregular'], mode: 'records', fields: ['routeSegment'], retentionDays: 30 },
        ],
      });
      const agreement: LoadedAgreement = { file: 'MK-RS-Q.json', body };
      let active: LoadedAgreement[] = [agreement];
      const audit = await AuditLog.open({
        js,
        jsm,
        origin: 'MK',
        signer: { kid: key.kid, privateKey: key.key },
        checkpointEvery: { entries: 1_000, ms: 60_000 },
      });
      const ctx: ExchangeContext = {
        partner: 'MK',
        manifest: () => ({}) as ManifestBody,
        agreements: () => active,
        inactive: () => [],
        audit,
        log: pino({ level: 'silent' }),
        now: () => new Date(),
      };
      const received: string[] = [];
      const sink = {
        cancelled: false,
        write(message: QueryResponse): Promise<void> {
          received.push(...message.events.map((e) => e.eventId));
          active = []; // revoked (the watcher dropped it) right after the first batch went out
          return Promise.resolve();
        },
      };
      const plan = planQuery(
        {
          agreementId: 'MK-RS-Q',
          purpose: 'risk-analysis',
          types: [],
          where: {},
          pageSize: 0,
          resumeToken: '',
        },
        agreement,
      );
      const run = runQuery(
        ctx,
        { js, jsm, pseudonyms: new Pseudonyms(Buffer.alloc(32, 7)) },
        'RS',
        agreement,
        'risk-analysis',
        plan,
        sink,
      );
      await expect(run).rejects.toSatisfy(
        (e: unknown) => e instanceof ExchangeError && e.code === 'AGREEMENT_NOT_IN_FORCE',
      );
      expect(received.length).toBeGreaterThan(0);
      expect(received.length).toBeLessThan(published);
      await audit.close();
      const audited: string[] = [];
      const { readAudit, decodeAuditEntry } = await import('@wbx/audit');
      for await (const m of readAudit(jsm, 'MK')) {
        const entry = decodeAuditEntry(m.data);
        if (entry.kind === 'disclosure') audited.push(...(entry.eventIds ?? []));
      }
      expect(audited.sort()).toEqual([...received].sort());
    } finally {
      await nc.close();
    }
  });
});
