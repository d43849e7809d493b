// pnpm bench e2e [--rate R] [--seconds S] [--sweep R1,R2,…] [--unary] [--no-stages] [--raw-only]
//                [--raw-memory] [--low-seconds S] [--trace-sample N] [--cpu-prof DIR]
// Origin ingest → recipient inbox latency: MK and RS run as `wbx gateway` child processes (embedded
// nats-servers, a records agreement MK → RS for every type submitted). This process submits events to MK
// at a steady RATE/s for SECONDS s (timer-paced, not waiting for answers) on one Ingest.SubmitStream, as
// `wbx ingest` does (`--unary`: one unary Submit call an event), noting each eventId's send time; an
// ordered consumer on RS's WBX_INBOX notes each one's arrival. Also noted per eventId, to show where the
// time goes: MK's receipt (stored in WBX_EVENTS) and its appearance in MK's WBX_SHARE_RS (an ordered
// consumer on MK's NATS; `--no-stages` leaves that reader out, as it costs CPU on the same two cores).
// Lost: submitted and acknowledged, but not in RS's inbox within DRAIN_S s after the last submission.
// `--sweep` first runs the same measurement, SWEEP_S s each, at lower rates: where the latency bends.
// Raw baseline, in the same run before the gateways start: the same sealed events at the same rate through
// the same hops with plain NATS and no gateway work (`_raw-chain.ts`), the floor under the goal here.
// `--raw-only` runs just that; `--raw-memory` keeps the raw chain's streams in memory instead of files.
// Also at 100/s for LOW_S s (`--low-seconds`, default 10), raw chain and gateways alike: the goal
// there is p99 ≤ 1.5 × the raw chain (`ratio_p99_vs_raw_chain_100`; at RATE, ≤ 3 × `ratio_p99_vs_raw_chain`).
// MK runs with WBX_TRACE_SAMPLE=N (`--trace-sample`, default 10): every N-th submission's hops inside the
// gateway (received → validated → sealed → stored → answered) are timed in its wbx_stage_latency_ms,
// read from its /metrics into `stage_latency_ms.mk_ingest_hops` — where a queue forms in ingest.
// `--cpu-prof DIR` runs MK's gateway with `node --cpu-prof` and writes its profile to DIR at its exit.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { credentials, Metadata } from '@grpc/grpc-js';
import { makeFederation } from '@wbx/fixtures';
import { Event, IngestClient, type SubmitResult } from '@wbx/proto';

import { arg, cpuSeconds, machine, quantile, round } from './_common.ts';
import { rawChain, watch } from './_raw-chain.ts';
import { scrape, stageFigures } from './_stages.ts';
import { agreeRecords, connectAsGateway, sealAll, sharedEvents, spawnGateway } from './_share-setup.ts';

const RATE = arg('rate', 1_000);
const SECONDS = arg('seconds', 15);
const WARM = 500;
const DRAIN_S = arg('drain', 60);
const VIA = process.argv.includes('--unary') ? 'unary' : 'stream';
const STAGES = !process.argv.includes('--no-stages');
const RAW_ONLY = process.argv.includes('--raw-only');
const RAW_STORAGE = process.argv.includes('--raw-memory') ? 'memory' : 'file';
const SWEEP_S = 8;
const LOW_RATE = 100;
const LOW_S = arg('low-seconds', 10);
const TRACE_SAMPLE = arg('trace-sample', 10);
const CPU_PROF = ((i) => (i < 0 ? undefined : process.argv[i + 1]))(process.argv.indexOf('--cpu-prof'));
const SWEEP = ((): number[] => {
  const i = process.argv.indexOf('--sweep');
  if (i < 0) return [];
  const rates = (process.argv[i + 1] ?? '').split(',').map(Number);
  if (rates.some((r) => !Number.isFinite(r) || r <= 0))
    throw new Error('--sweep takes rates like 100,250,500');
  return rates;
})();

interface Timing {
  sent: number;
  acked?: number;
  shared?: number;
  arrived?: number;
}

function stats(values: number[]): { p50: number; p95: number; p99: number; max: number } {
  values.sort((a, b) => a - b);
  return {
    p50: round(quantile(values, 0.5), 2),
    p95: round(quantile(values, 0.95), 2),
    p99: round(quantile(values, 0.99), 2),
    max: round(values.at(-1) ?? Number.NaN, 2),
  };
}

const dir = mkdtempSync(join(tmpdir(), 'wbx-bench-e2e-'));
try {
  const fed = await makeFederation(dir, ['MK', 'RS']);
  await agreeRecords(fed, 'RS');
  const sweepEvents = SWEEP.reduce((n, r) => n + r * SWEEP_S, 0);
  const lowEvents = LOW_RATE * LOW_S;
  const generated = sharedEvents(WARM + lowEvents + sweepEvents + RATE * SECONDS, 'e2e');
  const all = generated.map((e) => Event.fromJSON(e));
  const rawLow = await rawChain(
    dir,
    sealAll(fed, generated.slice(0, LOW_RATE + lowEvents)).map((e) => Buffer.from(e.token)),
    LOW_RATE,
    LOW_RATE,
    RAW_STORAGE,
  );
  const rawLowLatency = { ...stats(rawLow.latencies), lost: rawLow.lost };
  console.log(
    `raw chain at ${LOW_RATE}/s: p50 ${rawLowLatency.p50} ms, p99 ${rawLowLatency.p99} ms, ` +
      `max ${rawLowLatency.max} ms, ${rawLow.lost} lost`,
  );
  const raw = await rawChain(
    dir,
    sealAll(fed, generated.slice(-(WARM + RATE * SECONDS))).map((e) => Buffer.from(e.token)),
    RATE,
    WARM,
    RAW_STORAGE,
  );
  const rawLatency = {
    ...stats(raw.latencies),
    lost: raw.lost,
    achieved_per_s: round(raw.achievedPerSecond),
  };
  console.log(
    `raw chain (plain NATS, same hops, no gateway work) at ${RATE}/s: p50 ${rawLatency.p50} ms, ` +
      `p99 ${rawLatency.p99} ms, max ${rawLatency.max} ms, ${raw.lost} lost`,
  );
  if (RAW_ONLY) {
    console.log(
      JSON.stringify({
        bench: 'e2e',
        rate_per_s: RATE,
        seconds: SECONDS,
        raw_chain_latency_ms: rawLatency,
        raw_chain_latency_ms_100: rawLowLatency,
        raw_chain_storage: RAW_STORAGE,
        goal_p99_ms: 20,
        load_avg: loadavg().map((l) => round(l, 1)),
        machine: machine(),
      }),
    );
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  }
  process.env.WBX_TRACE_SAMPLE = String(TRACE_SAMPLE);
  const ownOptions = process.env.NODE_OPTIONS;
  if (CPU_PROF !== undefined)
    process.env.NODE_OPTIONS = `${ownOptions ?? ''} --cpu-prof --cpu-prof-dir=${CPU_PROF}`.trim();
  const mk = await spawnGateway(fed, 'MK');
  delete process.env.WBX_TRACE_SAMPLE;
  if (ownOptions === undefined) delete process.env.NODE_OPTIONS;
  else process.env.NODE_OPTIONS = ownOptions;
  const rs = await spawnGateway(fed, 'RS', [
    { partner: 'MK', url: mk.nats, nkeyFile: join(fed.dataDir('MK'), 'nats-access', 'RS.nkey') },
  ]);
  const mkNats = await connectAsGateway(fed, 'MK', mk.nats);
  const rsNats = await connectAsGateway(fed, 'RS', rs.nats);
  const client = new IngestClient(mk.grpc, credentials.createInsecure());
  const timings = new Map<string, Timing>();
  const stopShared = STAGES
    ? watch(mkNats, 'WBX_SHARE_RS', (id, at) => {
        const t = timings.get(id);
        if (t !== undefined) t.shared ??= at;
      })
    : () => Promise.resolve();
  let arrivals = 0;
  // WBX_INBOX's message ids are `<origin>.<eventId>`.
  const stopInbox = watch(rsNats, 'WBX_INBOX', (id, at) => {
    const t = timings.get(id.slice(id.indexOf('.') + 1));
    if (t !== undefined && t.arrived === undefined) {
      t.arrived = at;
      arrivals += 1;
    }
  });
  try {
    /** Submits `list` at `perSecond`; resolves to the achieved rate and the number of failed calls. */
    const paced = async (
      list: readonly Event[],
      perSecond: number,
    ): Promise<{ rate: number; errors: number }> => {
      let errors = 0;
      const calls: Promise<void>[] = [];
      const started = performance.now();
      let sent = 0;
      const call = VIA === 'stream' ? client.submitStream() : undefined;
      const streamed = new Promise<void>((resolve, reject) => {
        if (call === undefined) return resolve();
        let answered = 0;
        call.on('data', (r: SubmitResult) => {
          answered += 1;
          const t = timings.get(r.eventId);
          if (r.receipt !== undefined && t !== undefined) t.acked = performance.now();
          else errors += 1;
          if (answered === list.length) resolve();
        });
        call.on('error', reject);
      });
      while (sent < list.length) {
        const due = Math.min(list.length, Math.floor(((performance.now() - started) / 1000) * perSecond) + 1);
        for (; sent < due; sent++) {
          const event = list[sent]!;
          const timing: Timing = { sent: performance.now() };
          timings.set(event.eventId, timing);
          if (call !== undefined) {
            call.write(event);
            continue;
          }
          calls.push(
            new Promise<void>((resolve) => {
              client.submit(event, new Metadata(), { deadline: Date.now() + 30_000 }, (e) => {
                if (e) errors += 1;
                else timing.acked = performance.now();
                resolve();
              });
            }),
          );
        }
        await sleep(1);
      }
      const rate = list.length / ((performance.now() - started) / 1000);
      await Promise.all(calls);
      await streamed;
      call?.end();
      return { rate, errors };
    };
    const drain = async (total: number): Promise<void> => {
      const deadline = performance.now() + DRAIN_S * 1000;
      while (arrivals < total && performance.now() < deadline) await sleep(20);
    };

    const warm = all.slice(0, WARM);
    await paced(warm, RATE);
    await drain(WARM);
    if (arrivals < WARM) throw new Error(`only ${arrivals} of ${WARM} warm-up events reached RS`);

    let next = WARM;
    const lowPart = all.slice(next, (next += lowEvents));
    const lowRun = await paced(lowPart, LOW_RATE);
    await drain(next - lowRun.errors);
    const lowTimes = lowPart.map((e) => timings.get(e.eventId)!);
    const lowShared = lowTimes.filter((t) => t.arrived !== undefined && t.shared !== undefined);
    const low = {
      ...stats(lowTimes.filter((t) => t.arrived !== undefined).map((t) => t.arrived! - t.sent)),
      lost: lowTimes.filter((t) => t.acked !== undefined && t.arrived === undefined).length,
      submit_to_receipt: stats(lowTimes.filter((t) => t.acked !== undefined).map((t) => t.acked! - t.sent)),
      ...(STAGES
        ? {
            receipt_to_share_stream: stats(
              lowShared.filter((t) => t.acked !== undefined).map((t) => t.shared! - t.acked!),
            ),
            share_stream_to_inbox: stats(lowShared.map((t) => t.arrived! - t.shared!)),
          }
        : {}),
    };
    console.log(`at ${LOW_RATE}/s for ${LOW_S} s: p50 ${low.p50} ms, p99 ${low.p99} ms, ${low.lost} lost`);
    const sweep: { rate_per_s: number; p50: number; p99: number; max: number; lost: number }[] = [];
    for (const r of SWEEP) {
      const part = all.slice(next, (next += r * SWEEP_S));
      const { errors } = await paced(part, r);
      await drain(next - errors);
      const times = part.map((e) => timings.get(e.eventId)!);
      const { p50, p99, max } = stats(
        times.filter((t) => t.arrived !== undefined).map((t) => t.arrived! - t.sent),
      );
      const lost = times.filter((t) => t.acked !== undefined && t.arrived === undefined).length;
      sweep.push({ rate_per_s: r, p50, p99, max, lost });
      console.log(`at ${r}/s for ${SWEEP_S} s: p50 ${p50} ms, p99 ${p99} ms, max ${max} ms, ${lost} lost`);
    }

    const list = all.slice(next);
    const natsPid = (partner: string): number =>
      Number(readFileSync(join(fed.dataDir(partner), 'nats', 'nats-server.pid'), 'utf8').trim());
    const pids = { mk: mk.pid, rs: rs.pid, mkNats: natsPid('MK'), rsNats: natsPid('RS') };
    const cpu = {
      mk: cpuSeconds(pids.mk),
      rs: cpuSeconds(pids.rs),
      mkNats: cpuSeconds(pids.mkNats),
      rsNats: cpuSeconds(pids.rsNats),
      bench: process.cpuUsage(),
      at: performance.now(),
    };
    const metricsBefore = await scrape(mk.http);
    const { rate, errors } = await paced(list, RATE);
    const mkHops = stageFigures(await scrape(mk.http), metricsBefore);
    const busy = (pid: number, before: number): number =>
      round((100 * (cpuSeconds(pid) - before)) / ((performance.now() - cpu.at) / 1000));
    const cpuPct = {
      mk_gateway: busy(pids.mk, cpu.mk),
      mk_nats_server: busy(pids.mkNats, cpu.mkNats),
      rs_gateway: busy(pids.rs, cpu.rs),
      rs_nats_server: busy(pids.rsNats, cpu.rsNats),
      bench_client: ((used) =>
        round((100 * (used.user + used.system)) / 1000 / (performance.now() - cpu.at)))(
        process.cpuUsage(cpu.bench),
      ),
    };
    await drain(next + list.length - errors);
    const measured = list.map((e) => timings.get(e.eventId)!);
    const acked = measured.filter((t) => t.acked !== undefined);
    const arrived = measured.filter((t) => t.arrived !== undefined);
    const lost = acked.filter((t) => t.arrived === undefined).length;
    const e2e = stats(arrived.map((t) => t.arrived! - t.sent));
    const ingest = stats(acked.map((t) => t.acked! - t.sent));
    const share = stats(arrived.filter((t) => t.shared !== undefined).map((t) => t.shared! - t.acked!));
    const receive = stats(arrived.filter((t) => t.shared !== undefined).map((t) => t.arrived! - t.shared!));
    console.log(
      `ingest → inbox at ${RATE}/s for ${SECONDS} s (achieved ${round(rate)}/s): p50 ${e2e.p50} ms, ` +
        `p95 ${e2e.p95} ms, p99 ${e2e.p99} ms, max ${e2e.max} ms (goal p99 < 20 ms); ` +
        `${arrived.length} arrived, ${lost} lost, ${errors} submit errors`,
    );
    console.log(
      `stages (p50 / p99 ms): submit → receipt ${ingest.p50} / ${ingest.p99}, ` +
        `receipt → WBX_SHARE_RS ${share.p50} / ${share.p99}, ` +
        `WBX_SHARE_RS → RS inbox ${receive.p50} / ${receive.p99}`,
    );
    console.log(
      `MK ingest hops, every ${TRACE_SAMPLE}th submission (mean / p50 / p99 ms): ` +
        Object.entries(mkHops)
          .map(([stage, f]) => `${stage} ${f.mean} / ${f.p50} / ${f.p99}`)
          .join(', '),
    );
    console.log(
      `CPU while submitting: MK gateway ${cpuPct.mk_gateway}%, MK nats-server ${cpuPct.mk_nats_server}%, ` +
        `RS gateway ${cpuPct.rs_gateway}%, RS nats-server ${cpuPct.rs_nats_server}%`,
    );
    console.log(
      JSON.stringify({
        bench: 'e2e',
        submit: VIA,
        rate_per_s: RATE,
        achieved_per_s: round(rate),
        seconds: SECONDS,
        events: list.length,
        arrived: arrived.length,
        lost,
        submit_errors: errors,
        latency_ms: e2e,
        goal_p99_ms: 20,
        raw_chain_latency_ms: rawLatency,
        raw_chain_storage: RAW_STORAGE,
        ratio_p99_vs_raw_chain: round(e2e.p99 / rawLatency.p99, 2),
        goal_ratio_p99_vs_raw_chain: 3,
        latency_ms_100: low,
        raw_chain_latency_ms_100: rawLowLatency,
        ratio_p99_vs_raw_chain_100: round(low.p99 / rawLowLatency.p99, 2),
        goal_ratio_p99_vs_raw_chain_100: 1.5,
        stage_latency_ms: {
          submit_to_receipt: ingest,
          receipt_to_share_stream: share,
          share_stream_to_inbox: receive,
          mk_ingest_hops: mkHops,
          mk_ingest_trace_sample: TRACE_SAMPLE,
        },
        cpu_pct_while_submitting: cpuPct,
        ...(sweep.length > 0 ? { sweep } : {}),
        stage_readers: STAGES,
        drain_s: DRAIN_S,
        load_avg: loadavg().map((l) => round(l, 1)),
        machine: machine(),
      }),
    );
  } finally {
    client.close();
    await stopShared();
    await stopInbox();
    await mkNats.close();
    await rsNats.close();
    await rs.stop();
    await mk.stop();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
