import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { jetstreamManager } from '@nats-io/jetstream';
import type * as Analytics from '@wbx/analytics';
import { INBOX_STREAM, inboxMsgId, loadAgreements, type Gateway } from '@wbx/gateway';
import type { ManifestBody } from '@wbx/registry';
import type { Logger } from 'pino';

import { write, type CliIo } from './io.js';

/** The port `wbx demo --serve` tries first (the analytics API's default), before any free one. */
const SERVE_PORT = 8470;

export interface DashboardDemoOptions {
  /** The analytics node's gateway (FRONTEX). */
  readonly gateway: Gateway;
  readonly partner: string;
  readonly manifest: ManifestBody;
  readonly agreementsDir: string;
  /** Where the store file goes. */
  readonly dir: string;
  readonly log: Logger;
  /** Keep serving the dashboard until SIGINT/SIGTERM. */
  readonly serve: boolean;
}

/** A dashboard value as text: exact, "< k" (one suppressed cell), or "≥ n" (suppressed cells in it). */
function shown(c: Analytics.Cell): string {
  if (c.cells === 0) return '—';
  if (c.suppressedCells === 0) return c.known.toLocaleString('en');
  if (c.cells === 1) return `< ${c.minCell}`;
  if (c.known === 0 && c.suppressedCells === c.cells) return `< ${c.minCell} ×${c.cells}`;
  return `≥ ${c.known.toLocaleString('en')}`;
}

function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (signal: string) => (): void => {
      process.off('SIGINT', int);
      process.off('SIGTERM', term);
      resolve(signal);
    };
    const int = on('SIGINT');
    const term = on('SIGTERM');
    process.once('SIGINT', int);
    process.once('SIGTERM', term);
  });
}

/**
 * The analytics part of the demo: an analytics node on FRONTEX's inbox takes in the verified aggregates,
 * serves the dashboard on loopback and prints its address and a few headline figures; with `serve` it
 * keeps serving until Ctrl-C.
 */
export async function dashboardDemo(io: CliIo, options: DashboardDemoOptions): Promise<boolean> {
  const A = await import('@wbx/analytics');
  const { gateway, manifest, partner } = options;
  const agreements = await loadAgreements(options.agreementsDir, manifest, partner, io.now(), options.log);
  const store = await A.AnalyticsStore.open(join(options.dir, 'analytics.duckdb'));
  const ingestor = new A.InboxIngestor({
    nc: gateway.nats,
    store,
    stream: INBOX_STREAM,
    msgId: inboxMsgId,
    partner,
    manifest: () => manifest,
    agreements: () => agreements,
  });
  let api: Analytics.AnalyticsApi | undefined;
  try {
    await ingestor.start();
    const jsm = await jetstreamManager(gateway.nats);
    const last = (await jsm.streams.info(INBOX_STREAM)).state.last_seq;
    const deadline = Date.now() + 30_000;
    while (ingestor.stats.position < last && Date.now() < deadline) await sleep(100);
    if (options.serve) {
      api = await A.AnalyticsApi.start({ store, port: SERVE_PORT }).catch(() =>
        A.AnalyticsApi.start({ store }),
      );
    } else api = await A.AnalyticsApi.start({ store });
    const url = `${api.url}/dashboard/`;
    const { stored, refused } = ingestor.stats;
    await write(
      io.stdout,
      `\nAnalytics node on ${partner}'s ${INBOX_STREAM}: ${stored} aggregates and records taken in, ${refused} refused\nDashboard: ${url}\n`,
    );
    const series = await A.indicatorsView(store);
    for (const s of series) {
      const m = s.months.at(-1);
      if (m === undefined) continue;
      await write(
        io.stdout,
        `  ${s.indicator} ${m.period}${m.provisional ? ' (provisional)' : ''}: ${shown(m.value)} ${s.unit}, from ${m.origins.join(', ')}\n`,
      );
    }
    const nat = await A.nationalityView(store, { top: 3 });
    if (nat.top.length > 0) {
      const top = nat.top
        .map((r) => `${r.citizenship} ${shown(r.value)} (${(r.share * 100).toFixed(0)}%)`)
        .join(', ');
      await write(io.stdout, `  top citizenships ${nat.period}: ${top}\n`);
    }
    if (options.serve) {
      await write(io.stdout, `Serving the dashboard at ${url} until Ctrl-C\n`);
      await untilSignal();
    }
    return refused === 0 && series.length > 0;
  } finally {
    await api?.close();
    await ingestor.stop();
    await store.close();
  }
}
