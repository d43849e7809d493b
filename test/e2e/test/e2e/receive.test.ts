import { jetstreamManager } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';

import { startFederation } from '@wbx/fixtures';

describe('receiving', () => {
  it("starts a recipient gateway while an origin's NATS is down, and serves its own ingest", async () => {
    await using fed = await startFederation(['MK', 'RS']);
    await fed.agree({
      id: 'MK-RS-1',
      provider: 'MK',
      recipient: 'RS',
      purposes: ['border-management'],
      legalBasis: 'test',
      validFrom: new Date(Date.now() - 3_600_000).toISOString(),
      validUntil: new Date(Date.now() + 86_400_000).toISOString(),
      terms: [{ types: ['crossing.irregular'], mode: 'records', fields: ['routeSegment'], retentionDays: 7 }],
    });
    const mk = await fed.start('MK');
    await mk.stop();
    const rs = await fed.start('RS', { receiveFrom: [mk] });
    const info = await (await jetstreamManager(rs.nats)).streams.info('WBX_INBOX');
    expect(info.state.messages).toBe(0);
    expect(rs.grpcAddress).toMatch(/^127\.0\.0\.1:\d+$/);
  });
});
