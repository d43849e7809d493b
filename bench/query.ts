// pnpm bench query [--events N]
// Exchange.Query throughput: RS (an mTLS client with a pinned certificate) queries its agreement with MK
// for all of N events in one page, in this process against an MK gateway in this process (embedded
// nats-server). Each event is read from WBX_EVENTS, put through the policy engine, disclosed, audited (in
// batches) and streamed. Baseline, same run: reading the same N messages of WBX_EVENTS with a plain ordered
// consumer (no parsing, no gRPC). The measured client runs in its own process.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';

import { jetstream } from '@nats-io/jetstream';
import type { QueryEnd, QueryResponse } from '@wbx/proto';

import { arg, machine, round } from './_common.ts';
import { AGREEMENT, PURPOSE, setUpExchange } from './_exchange-setup.ts';

const n = arg('events', 50_000);
const GOAL = 50_000;
const dir = mkdtempSync(join(tmpdir(), 'wbx-bench-query-'));

function runQuery(
  client: Awaited<ReturnType<typeof setUpExchange>>['client'],
  pageSize: number,
): Promise<{ count: number; seconds: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let count = 0;
    let bytes = 0;
    let end: QueryEnd | undefined;
    const call = client.query({
      agreementId: AGREEMENT,
      purpose: PURPOSE,
      types: [],
      where: {},
      pageSize,
      resumeToken: '',
    });
    call.on('data', (m: QueryResponse) => {
      count += m.events.length;
      for (const e of m.events) bytes += e.presentation.length;
      if (m.end !== undefined) end = m.end;
    });
    call.on('error', reject);
    call.on('end', () => {
      if (end === undefined) reject(new Error('no end message'));
      else resolve({ count, seconds: (performance.now() - started) / 1000, bytes });
    });
  });
}

/** The measured run: the client in its own process, as a partner's client would be. */
async function queryInChild(
  bench: Awaited<ReturnType<typeof setUpExchange>>,
  pageSize: number,
): Promise<{ count: number; seconds: number; bytes: number; cpu_us: number }> {
  const { files } = bench;
  const child = spawn(
    process.execPath,
    [
      join(import.meta.dirname, '_query-client.ts'),
      bench.mk.exchangeAddress ?? '',
      files.ca,
      files.cert,
      files.key,
      String(pageSize),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  const code = await new Promise<number>((resolve) => child.on('exit', (c) => resolve(c ?? 1)));
  if (code !== 0) throw new Error(`the query client failed (${code})`);
  return JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as {
    count: number;
    seconds: number;
    bytes: number;
    cpu_us: number;
  };
}

try {
  const bench = await setUpExchange(dir, n);
  try {
    await runQuery(bench.client, 2_000); // warm-up
    const cpuBefore = process.cpuUsage();
    const q = await queryInChild(bench, n);
    const queryCpu = process.cpuUsage(cpuBefore);
    if (q.count !== n) throw new Error(`the query returned ${q.count} of ${n} events`);
    const rate = q.count / q.seconds;

    const consumer = await jetstream(bench.mk.nats).consumers.get('WBX_EVENTS', { opt_start_seq: 1 });
    const rawCpuBefore = process.cpuUsage();
    const started = performance.now();
    const messages = await consumer.consume({ max_messages: 2_048 });
    let read = 0;
    for await (const m of messages) {
      read += m.data.length > 0 ? 1 : 0;
      if (m.info.pending === 0) break;
    }
    await messages.close();
    const rawRate = read / ((performance.now() - started) / 1000);
    const rawCpu = process.cpuUsage(rawCpuBefore);
    // CPU time of this process (the gateway) per event: steadier than rates when others share the cores.
    const queryCpuUs = (queryCpu.user + queryCpu.system) / n;
    const rawCpuUs = (rawCpu.user + rawCpu.system) / read;
    console.log(
      `Query: ${round(rate)} events/s streamed over mTLS (${round(q.seconds, 2)} s for ${n}); ` +
        `avg presentation ${round(q.bytes / n)} B`,
    );
    console.log(`raw ordered-consumer read of WBX_EVENTS: ${round(rawRate)} messages/s`);
    console.log(
      `gateway CPU: ${round(queryCpuUs, 1)} µs/event for Query, ${round(rawCpuUs, 1)} µs/message for the raw read; ` +
        `the Query client's ${round(q.cpu_us / n, 1)} µs/event`,
    );
    console.log(
      JSON.stringify({
        bench: 'query',
        events: n,
        query_events_per_s: round(rate),
        raw_read_per_s: round(rawRate),
        ratio_vs_raw_read: round(rate / rawRate, 3),
        // The goal (issue 18): Query at ≥ 0.5 × the raw read of the same messages in the same run.
        floor: 'raw_read_per_s',
        ratio_vs_floor: round(rate / rawRate, 3),
        ratio_goal: 0.5,
        ratio_goal_met: rate / rawRate >= 0.5,
        query_cpu_us_per_event: round(queryCpuUs, 1),
        raw_read_cpu_us_per_message: round(rawCpuUs, 1),
        client_cpu_us_per_event: round(q.cpu_us / n, 1),
        ratio_cpu_vs_floor: round(rawCpuUs / queryCpuUs, 3),
        goal_events_per_s: GOAL,
        goal_met: rate >= GOAL,
        avg_presentation_bytes: round(q.bytes / n),
        load_avg_1m: round(loadavg()[0] ?? 0, 2),
        machine: machine(),
      }),
    );
  } finally {
    await bench.close();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
