// The query bench's client, in its own process (its own core): node _query-client.ts ADDRESS CA CERT KEY PAGE
// Runs one Query to its end and prints {"count":…,"seconds":…,"bytes":…,"cpu_us":…} (its own CPU time).
import { readFileSync } from 'node:fs';

import { credentials } from '@grpc/grpc-js';
import { EXCHANGE_CHANNEL_OPTIONS } from '@wbx/cli';
import { ExchangeClient, type QueryEnd, type QueryResponse } from '@wbx/proto';

import { AGREEMENT, PURPOSE } from './_exchange-setup.ts';

const [address = '', ca = '', cert = '', key = '', page = '0'] = process.argv.slice(2);
const client = new ExchangeClient(
  address,
  credentials.createSsl(readFileSync(ca), readFileSync(key), readFileSync(cert)),
  { ...EXCHANGE_CHANNEL_OPTIONS, 'grpc.ssl_target_name_override': 'localhost' },
);
const started = performance.now();
const cpu = process.cpuUsage();
let count = 0;
let bytes = 0;
let end: QueryEnd | undefined;
const call = client.query({
  agreementId: AGREEMENT,
  purpose: PURPOSE,
  types: [],
  where: {},
  pageSize: Number(page),
  resumeToken: '',
});
call.on('data', (m: QueryResponse) => {
  count += m.events.length;
  for (const e of m.events) bytes += e.presentation.length;
  if (m.end !== undefined) end = m.end;
});
call.on('error', (e: Error) => {
  console.error(e.message);
  process.exit(1);
});
call.on('end', () => {
  client.close();
  if (end === undefined) process.exit(1);
  const { user, system } = process.cpuUsage(cpu);
  const seconds = (performance.now() - started) / 1000;
  console.log(JSON.stringify({ count, seconds, bytes, cpu_us: user + system }));
});
