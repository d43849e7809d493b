// pnpm bench validate [--events N]
// `wbx validate` on N generated events (default 1,000,000): events/s and peak RSS of the CLI process,
// against the raw baseline of reading the same file line by line and JSON.parse-ing each line.
import { createReadStream, mkdtempSync, openSync, rmSync, statSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { readLines } from '@wbx/cli';
import { validateLine } from '@wbx/schema';

import { arg, machine, round, runNode, wbxBin } from './_common.ts';

const events = arg('events', 1_000_000);
const dir = mkdtempSync(join(tmpdir(), 'wbx-bench-validate-'));
const file = join(dir, 'events.ndjson');

try {
  console.log(`generating ${events.toLocaleString('en')} events…`);
  const fd = openSync(file, 'w');
  const gen = await runNode(
    [
      wbxBin,
      'generate',
      '--partner',
      'MK',
      '--count',
      String(events),
      '--seed',
      'bench',
      '--from',
      '2023-01-01',
      '--to',
      '2024-01-01',
    ],
    fd,
  );
  closeSync(fd);
  if (gen.code !== 0) throw new Error(`wbx generate failed: ${gen.stderr}`);
  const fileMb = statSync(file).size / 2 ** 20;
  console.log(
    `generated ${round(fileMb)} MiB in ${round(gen.seconds, 1)} s (${round(events / gen.seconds)} events/s)`,
  );

  // Raw baseline, in this process: split lines and JSON.parse, nothing else.
  let started = performance.now();
  let parsed = 0;
  for await (const line of readLines(createReadStream(file))) {
    if (JSON.parse(line.text) !== null) parsed += 1;
  }
  const rawSeconds = (performance.now() - started) / 1000;
  console.log(`raw line split + JSON.parse: ${round(parsed / rawSeconds)} events/s`);

  // Validation alone, in this process.
  started = performance.now();
  let valid = 0;
  const now = new Date();
  for await (const line of readLines(createReadStream(file))) {
    if (validateLine(line.text, { now }).ok) valid += 1;
  }
  const inProcessSeconds = (performance.now() - started) / 1000;
  if (valid !== events) throw new Error(`only ${valid} of ${events} generated events are valid`);
  console.log(`in-process line split + validateLine: ${round(events / inProcessSeconds)} events/s`);

  // The CLI as an operator runs it.
  const run = await runNode([wbxBin, 'validate', '--file', file]);
  if (run.code !== 0) throw new Error(`wbx validate exited ${run.code}: ${run.stderr}`);
  console.log(`wbx validate: ${round(events / run.seconds)} events/s, peak RSS ${round(run.peakRssMb)} MiB`);

  // Flat memory: the same run on a tenth of the file should peak at about the same RSS.
  const tenth = join(dir, 'tenth.ndjson');
  const tfd = openSync(tenth, 'w');
  const small = await runNode(
    [
      wbxBin,
      'generate',
      '--partner',
      'MK',
      '--count',
      String(Math.ceil(events / 10)),
      '--seed',
      'bench',
      '--from',
      '2023-01-01',
      '--to',
      '2024-01-01',
    ],
    tfd,
  );
  closeSync(tfd);
  if (small.code !== 0) throw new Error(`wbx generate failed: ${small.stderr}`);
  const smallRun = await runNode([wbxBin, 'validate', '--file', tenth]);
  console.log(`wbx validate on a tenth of the events: peak RSS ${round(smallRun.peakRssMb)} MiB`);

  const result = {
    bench: 'validate',
    events,
    file_mb: round(fileMb),
    events_per_s: round(events / run.seconds),
    peak_rss_mb: round(run.peakRssMb, 1),
    peak_rss_mb_tenth_of_events: round(smallRun.peakRssMb, 1),
    in_process_events_per_s: round(events / inProcessSeconds),
    raw_parse_events_per_s: round(parsed / rawSeconds),
    ratio_cli_vs_raw_parse: round(rawSeconds / run.seconds, 3),
    ratio_in_process_vs_raw_parse: round(rawSeconds / inProcessSeconds, 3),
    floor: 'split the same file into lines and JSON.parse each, events/s',
    floor_events_per_s: round(parsed / rawSeconds),
    ratio_vs_floor: round(rawSeconds / run.seconds, 3),
    generate_events_per_s: round(events / gen.seconds),
    machine: machine(),
  };
  console.log(JSON.stringify(result));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
