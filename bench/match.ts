// pnpm bench match [--events N] [--rounds R] [--restarts K] [--settle-ms S]
// Exchange.Match latency for 1,000 subject references (half of them known to MK under the agreement, half
// unknown), from RS over mTLS to an MK gateway in this process holding N events.
//   (1) The first Match of a gateway that has never indexed these events: it waits for the index (KV
//       bucket wbx_match) to be built from WBX_EVENTS (`first_call_new_index_ms`).
//   (2) The gateway is stopped and started again as a `wbx gateway` process (same settings and data: its
//       nats-server store, the index bucket; compiled code and caches cold, as after a real restart),
//       RS connects anew (`connect_ms`, the TLS handshake, apart), then its first Match is timed. This is
//       done K times (default 3; `first_call_ms_each`); `first_call_ms` is their median. Then R more calls
//       to the last process (`p50_ms`, the steady state). The goal is first call ≤ 2 × steady:
//       `ratio_vs_floor` = first_call_ms / p50_ms.
// `--settle-ms S` waits S ms after the restart before the first call (diagnosis: how much of the first
// call's extra time is the gateway's start-up work still running, how much cold code and caches).
// Baseline, same run: a trivial unary call (ListAgreements) on the same mTLS channel (the transport floor).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import type { MatchResponse, QueryResponse } from '@wbx/proto';

import { arg, machine, quantile, round } from './_common.ts';
import { AGREEMENT, PURPOSE, setUpExchange } from './_exchange-setup.ts';

const n = arg('events', 20_000);
const rounds = arg('rounds', 20);
const restarts = arg('restarts', 3);
const settleMs = process.argv.includes('--settle-ms') ? arg('settle-ms', 1) : 0;
const REFS = 1_000;
const dir = mkdtempSync(join(tmpdir(), 'wbx-bench-match-'));

try {
  // A generous rate limit: the bench measures latency, not the limiter.
  const bench = await setUpExchange(dir, n, { 'exchange.matchRate': 1_000, 'exchange.matchBurst': 1_000 });
  let current: { client: typeof bench.client; close(): Promise<void> } = bench;
  try {
    const known = await new Promise<string[]>((resolve, reject) => {
      const refs = new Set<string>();
      const call = current.client.query({
        agreementId: AGREEMENT,
        purpose: PURPOSE,
        types: ['crossing.irregular'],
        where: {},
        pageSize: 5_000,
        resumeToken: '',
      });
      call.on('data', (m: QueryResponse) => {
        for (const e of m.events) for (const r of e.subjectRefs) if (r !== '') refs.add(r);
      });
      call.on('error', reject);
      call.on('end', () => resolve([...refs]));
    });
    if (known.length < REFS / 2) throw new Error(`only ${known.length} known references`);
    let offset = 0;
    const refsFor = (): string[] => [
      ...Array.from({ length: REFS / 2 }, () => known[offset++ % known.length] ?? ''),
      ...Array.from({ length: REFS / 2 }, () => randomBytes(32).toString('hex')),
    ];
    const match = (subjectRefs: string[]): Promise<{ ms: number; res: MatchResponse }> =>
      new Promise((resolve, reject) => {
        const t = performance.now();
        current.client.match({ agreementId: AGREEMENT, purpose: PURPOSE, subjectRefs }, (e, res) =>
          e ? reject(e) : resolve({ ms: performance.now() - t, res }),
        );
      });
    const firstNewIndex = await match(refsFor());
    // (2) A restart, a new channel, then the first call and the steady state of that gateway process.
    const firsts: number[] = [];
    const connects: number[] = [];
    let restarted = await bench.restartedAsProcess();
    for (let k = 0; k < restarts; k++) {
      if (k > 0) restarted = await restarted.restarted();
      current = restarted;
      connects.push(
        await new Promise<number>((resolve, reject) => {
          const t = performance.now();
          current.client.waitForReady(Date.now() + 30_000, (e) =>
            e ? reject(e) : resolve(performance.now() - t),
          );
        }),
      );
      if (settleMs > 0) await sleep(settleMs);
      firsts.push((await match(refsFor())).ms);
    }
    const first = {
      ms: quantile(
        [...firsts].sort((a, b) => a - b),
        0.5,
      ),
    };
    const connectMs = quantile(
      [...connects].sort((a, b) => a - b),
      0.5,
    );
    const times: number[] = [];
    let hits = 0;
    for (let i = 0; i < rounds; i++) {
      const r = await match(refsFor());
      times.push(r.ms);
      hits += r.res.hits.length;
    }
    times.sort((a, b) => a - b);
    // Raw: the transport floor — a trivial unary call (ListAgreements) on the same mTLS channel.
    const floor: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const t = performance.now();
      await new Promise((resolve, reject) =>
        current.client.listAgreements({}, (e, r) => (e ? reject(e) : resolve(r))),
      );
      floor.push(performance.now() - t);
    }
    floor.sort((a, b) => a - b);
    const rawMs = quantile(floor, 0.5);
    const p50 = quantile(times, 0.5);
    console.log(
      `Match, ${REFS} references (${REFS / 2} known): p50 ${round(p50, 1)} ms, ` +
        `p99 ${round(quantile(times, 0.99), 1)} ms over ${rounds} calls; ` +
        `first call after a restart ${round(first.ms, 1)} ms (median of ${restarts}) ` +
        `(${round(first.ms / p50, 2)} × p50; connecting took ${round(connectMs, 1)} ms before it); ` +
        `first call while the index of ${n} events was built ${round(firstNewIndex.ms)} ms`,
    );
    console.log(`raw: a trivial unary call on the same channel, p50 ${round(rawMs, 2)} ms`);
    console.log(
      JSON.stringify({
        bench: 'match',
        events: n,
        refs: REFS,
        rounds,
        p50_ms: round(p50, 2),
        p99_ms: round(quantile(times, 0.99), 2),
        max_ms: round(times.at(-1) ?? 0, 2),
        restarts,
        first_call_ms: round(first.ms, 2),
        first_call_ms_each: firsts.map((ms) => round(ms, 1)),
        connect_ms: round(connectMs, 2),
        ratio_vs_floor: round(first.ms / p50, 2),
        goal_ratio_first_call_vs_p50: 2,
        settle_ms: settleMs,
        first_call_new_index_ms: round(firstNewIndex.ms),
        avg_hits: round(hits / rounds, 1),
        raw_unary_p50_ms: round(rawMs, 3),
        ratio_p50_vs_raw: round(p50 / rawMs, 1),
        load_avg_1m: round(loadavg()[0] ?? 0, 2),
        machine: machine(),
      }),
    );
  } finally {
    await current.close();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
