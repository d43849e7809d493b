// pnpm bench soak [--minutes M] [--rate R] [--sample-s S] [--node-options '<flags>']
// Whether the gateway's memory stays flat under steady load: MK runs as a `wbx gateway` child process
// (embedded nats-server) with records agreements to RS, AL and FRONTEX, so its share worker presents and
// audits every event three times. This process submits generated events at a steady RATE/s (default 300)
// for M minutes (default 10) on one Ingest.SubmitStream, as `wbx ingest` does, generating them as it
// goes (nothing per event kept here either). Every S s (default 10) it samples the gateway process's
// resident set (/proc/<pid>/status VmRSS), its open file descriptors (/proc/<pid>/fd) and, from its
// /metrics, the V8 heap (used, total), external memory and the messages its share worker has not yet
// shared (wbx-share on WBX_EVENTS, measured by the gateway every 30 s). The last line: peak RSS, and
// the slopes (MB/min, fds/min) by least squares over the second half of the run, after warm-up.
// `--node-options` starts the gateway with NODE_OPTIONS, to try heap sizes against `wbx gateway`'s own
// (--max-semi-space-size=4 --max-old-space-size=1024; e.g. '--max-old-space-size=0' for V8's default).
// Its last line's `gateway_rss_mb.slope_mb_per_min` is the goal's "flat"; `ratio_vs_floor` is peak / 256 MB.
// The recipients' own gateways do not run: their share streams fill in MK's nats-server, not in MK.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { credentials } from '@grpc/grpc-js';
import { makeFederation } from '@wbx/fixtures';
import { Event, IngestClient, type SubmitResult } from '@wbx/proto';
import { generateEvents } from '@wbx/synth';

import { arg, machine, round } from './_common.ts';
import { rssMb } from './_ingest-setup.ts';
import { gauge, scrape } from './_stages.ts';
import { agreeRecords, SHARED_TYPES, spawnGateway } from './_share-setup.ts';

const MINUTES = arg('minutes', 10);
const RATE = arg('rate', 300);
const SAMPLE_S = arg('sample-s', 10);
/** Submissions unanswered at once before the client waits (the gateway's own stream window is 512). */
const MAX_IN_FLIGHT = 2_048;
const RECIPIENTS = ['RS', 'AL', 'FRONTEX'] as const;
const NODE_OPTIONS = ((i) => (i < 0 ? undefined : process.argv[i + 1]))(
  process.argv.indexOf('--node-options'),
);

interface Sample {
  readonly t_s: number;
  readonly rss_mb: number;
  readonly heap_mb: number;
  readonly heap_total_mb: number;
  readonly external_mb: number;
  readonly fds: number;
  readonly share_pending: number;
  readonly submitted: number;
}

/** Least-squares slope of `y` over `x`. */
function slope(points: readonly (readonly [number, number])[]): number {
  const n = points.length;
  if (n < 2) return Number.NaN;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxy = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return sxx === 0 ? Number.NaN : sxy / sxx;
}

/** Shared-type MK events, generated lazily (the generator spreads `count` over a year). */
function* submissions(count: number): Generator<Event> {
  const from = new Date('2023-01-01T00:00:00Z');
  const to = new Date('2024-01-01T00:00:00Z');
  for (const e of generateEvents({ partner: 'MK', count: 4 * count + 100, seed: 'bench-soak', from, to })) {
    if ((SHARED_TYPES as readonly string[]).includes(e.type))
      yield Event.fromJSON(JSON.parse(JSON.stringify(e)));
  }
}

const dir = mkdtempSync(join(tmpdir(), 'wbx-bench-soak-'));
try {
  const fed = await makeFederation(dir, ['MK', ...RECIPIENTS]);
  for (const r of RECIPIENTS) await agreeRecords(fed, r);
  const ownOptions = process.env.NODE_OPTIONS;
  if (NODE_OPTIONS !== undefined) process.env.NODE_OPTIONS = NODE_OPTIONS;
  const mk = await spawnGateway(fed, 'MK').finally(() => {
    if (ownOptions === undefined) delete process.env.NODE_OPTIONS;
    else process.env.NODE_OPTIONS = ownOptions;
  });
  const client = new IngestClient(mk.grpc, credentials.createInsecure());
  try {
    const fds = (): number => readdirSync(`/proc/${mk.pid}/fd`).length;
    const heapMb = (text: string): number => gauge(text, 'wbx_nodejs_heap_size_used_bytes') / 2 ** 20;
    const pending = (text: string): number =>
      text
        .split('\n')
        .filter((l) => l.startsWith('wbx_share_pending_messages{') && l.includes('stream="WBX_EVENTS"'))
        .reduce((s, l) => s + Number(l.split(' ').at(-1)), 0);
    await sleep(2_000);
    const idleText = await scrape(mk.http);
    const idle = { rss_mb: round(rssMb(mk.pid).rss, 1), heap_mb: round(heapMb(idleText), 1), fds: fds() };
    console.log(`idle: RSS ${idle.rss_mb} MB, heap ${idle.heap_mb} MB, ${idle.fds} fds`);

    const total = Math.round(RATE * MINUTES * 60);
    const events = submissions(total);
    const call = client.submitStream();
    let sent = 0;
    let answered = 0;
    let errors = 0;
    call.on('data', (r: SubmitResult) => {
      answered += 1;
      if (r.receipt === undefined) errors += 1;
    });
    const failed = new Promise<never>((_, reject) => call.on('error', reject));
    void failed.catch(() => undefined);
    const samples: Sample[] = [];
    const started = performance.now();
    let nextSample = started + SAMPLE_S * 1000;
    const sample = async (): Promise<void> => {
      const text = await scrape(mk.http);
      const s: Sample = {
        t_s: round((performance.now() - started) / 1000, 1),
        rss_mb: round(rssMb(mk.pid).rss, 1),
        heap_mb: round(heapMb(text), 1),
        heap_total_mb: round(gauge(text, 'wbx_nodejs_heap_size_total_bytes') / 2 ** 20, 1),
        external_mb: round(gauge(text, 'wbx_nodejs_external_memory_bytes') / 2 ** 20, 1),
        fds: fds(),
        share_pending: pending(text),
        submitted: sent,
      };
      samples.push(s);
      console.log(
        `${s.t_s} s: RSS ${s.rss_mb} MB, heap ${s.heap_mb} MB used of ${s.heap_total_mb}, external ` +
          `${s.external_mb} MB, ${s.fds} fds, ${s.submitted} submitted, ${s.share_pending} not yet shared`,
      );
    };
    while (sent < total) {
      const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * RATE) + 1);
      while (sent < due && sent - answered < MAX_IN_FLIGHT) {
        const e = events.next();
        if (e.done === true) break;
        call.write(e.value);
        sent += 1;
      }
      if (performance.now() >= nextSample) {
        nextSample += SAMPLE_S * 1000;
        await sample();
      }
      await Promise.race([sleep(2), failed]);
    }
    const achieved = sent / ((performance.now() - started) / 1000);
    call.end();
    const deadline = performance.now() + 60_000;
    while (answered < sent && performance.now() < deadline) await sleep(20);
    await sample();

    const secondHalf = samples.filter((s) => s.t_s >= (MINUTES * 60) / 2);
    const perMin = (pick: (s: Sample) => number): number =>
      round(slope(secondHalf.map((s) => [s.t_s / 60, pick(s)] as const)), 2);
    const peak = Math.max(idle.rss_mb, ...samples.map((s) => s.rss_mb));
    const summary = {
      bench: 'soak',
      minutes: MINUTES,
      rate_per_s: RATE,
      achieved_per_s: round(achieved),
      submitted: sent,
      answered,
      errors,
      recipients: RECIPIENTS.length,
      gateway_node_options: NODE_OPTIONS ?? null,
      sample_s: SAMPLE_S,
      gateway_rss_mb: {
        idle: idle.rss_mb,
        peak,
        vm_hwm: round(rssMb(mk.pid).peak, 1),
        end: samples.at(-1)?.rss_mb,
        slope_mb_per_min: perMin((s) => s.rss_mb),
      },
      goal_rss_mb_peak: 256,
      ratio_vs_floor: round(peak / 256, 2),
      gateway_heap_mb: {
        idle: idle.heap_mb,
        peak: Math.max(...samples.map((s) => s.heap_mb)),
        slope_mb_per_min: perMin((s) => s.heap_mb),
      },
      gateway_fds: {
        idle: idle.fds,
        peak: Math.max(...samples.map((s) => s.fds)),
        slope_per_min: perMin((s) => s.fds),
      },
      share_pending_end: samples.at(-1)?.share_pending,
      samples: samples.map((s) => [
        s.t_s,
        s.rss_mb,
        s.heap_mb,
        s.heap_total_mb,
        s.external_mb,
        s.fds,
        s.share_pending,
      ]),
      samples_columns: ['t_s', 'rss_mb', 'heap_mb', 'heap_total_mb', 'external_mb', 'fds', 'share_pending'],
      load_avg: loadavg().map((l) => round(l, 1)),
      machine: machine(),
    };
    console.log(JSON.stringify(summary));
  } finally {
    client.close();
    await mk.stop();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
