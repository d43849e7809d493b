import { connect } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';

import { startNatsServer, until } from '@wbx/test-helpers';

/**
 * The patched @nats-io/nats-core (patches/README.md) flushes a turn's commands together at the end of the
 * turn; a close() right after a publish must still send it, as unpatched nats.js did.
 */
describe('patched nats-core', () => {
  it('sends what was published just before close()', async () => {
    await using server = await startNatsServer();
    const reader = await connect({ servers: server.url });
    try {
      const got: string[] = [];
      const sub = reader.subscribe('patch.check');
      void (async () => {
        for await (const m of sub) got.push(m.string());
      })();
      await reader.flush();
      for (let i = 0; i < 20; i++) {
        const nc = await connect({ servers: server.url, noAsyncTraces: true });
        nc.publish('patch.check', `m${i}`);
        await nc.close();
      }
      await until('every message published before close() to arrive', () => got.length === 20, 10_000);
      expect(got).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
    } finally {
      await reader.close();
    }
  });

  it('still rejects a request that gets no reply, and resolves one that does', async () => {
    await using server = await startNatsServer();
    const nc = await connect({ servers: server.url, noAsyncTraces: true });
    try {
      const sub = nc.subscribe('patch.echo', {
        callback: (_e, m) => {
          m.respond(m.data);
        },
      });
      await nc.flush();
      const replies = await Promise.all(
        Array.from({ length: 50 }, (_, i) => nc.request('patch.echo', `r${i}`, { timeout: 5_000 })),
      );
      expect(replies.map((r) => r.string())).toEqual(Array.from({ length: 50 }, (_, i) => `r${i}`));
      sub.unsubscribe();
      await expect(nc.request('patch.nobody', 'x', { timeout: 500 })).rejects.toThrow();
    } finally {
      await nc.close();
    }
  });
});
