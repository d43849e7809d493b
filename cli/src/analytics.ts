import { readFile, writeFile } from 'node:fs/promises';

import { connect, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import type { ActiveAgreement } from '@wbx/agreements';
import type * as Analytics from '@wbx/analytics';
import type { AnalyticsApi, AnalyticsStore, ExportOptions, InboxIngestor } from '@wbx/analytics';
import { INBOX_STREAM, inboxMsgId, loadAgreements } from '@wbx/gateway';
import { isPartnerCode } from '@wbx/schema';
import type { Command } from 'commander';
import { pino } from 'pino';

import { parseCliDate } from './dates.js';
import { CliError } from './errors.js';
import { write, type CliIo } from './io.js';
import { loadTrustedManifest } from './seal.js';

/**
 * @wbx/analytics, loaded when an analytics command runs: it loads DuckDB's native library, which no other
 * `wbx` command (the gateway among them) needs.
 */
const analyticsModule = (): Promise<typeof Analytics> => import('@wbx/analytics');

/** What `--format` takes: the figure exports, and `misp` for the smuggling incidents. */
const FORMATS = ['csv', 'json', 'parquet', 'sdmx-csv', 'misp'] as const;

/** The analytics API's default address: loopback. */
export const ANALYTICS_LISTEN_DEFAULT = '127.0.0.1:8470';
/** The environment variable holding the API's bearer token (instead of --token-file). */
export const ANALYTICS_TOKEN_ENV = 'WBX_ANALYTICS_TOKEN';
/** How often `serve` reads the agreements directory again. */
const AGREEMENTS_RELOAD_MS = 10_000;

export interface AnalyticsServeOptions {
  nats: string;
  nkey?: string;
  manifest: string;
  partner: string;
  agreements: string;
  db: string;
  listen: string;
  tokenFile?: string;
}

export interface AnalyticsExportOptions {
  format: string;
  db?: string;
  url?: string;
  tokenFile?: string;
  out?: string;
  asOf?: string;
  origin?: string;
  indicator?: string;
  period?: string;
  sdmxVersion?: string;
}

async function readText(flag: string, file: string): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch (e) {
    throw new CliError('IO', `${flag}: cannot read ${file}: ${(e as Error).message}`, { cause: e });
  }
}

async function tokenOf(io: CliIo, tokenFile: string | undefined): Promise<string | undefined> {
  if (tokenFile !== undefined) return readText('--token-file', tokenFile);
  const fromEnv = (io.env ?? process.env)[ANALYTICS_TOKEN_ENV];
  return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
}

function hostPort(listen: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(listen);
  const port = Number(m?.[2]);
  if (m?.[1] === undefined || !Number.isInteger(port) || port > 65_535) {
    throw new CliError('USAGE', `--listen: "${listen}" is not host:port`);
  }
  return { host: m[1].replace(/^\[|\]$/g, ''), port };
}

async function openStore(db: string): Promise<AnalyticsStore> {
  const { AnalyticsStore } = await analyticsModule();
  try {
    return await AnalyticsStore.open(db);
  } catch (e) {
    throw new CliError('IO', `--db: cannot open ${db} (is \`wbx analytics serve\` using it? use --url)`, {
      cause: e,
    });
  }
}

/**
 * `wbx analytics serve`: takes the verified aggregates and records of the gateway's WBX_INBOX into the
 * analytics store (`--db`, DuckDB) as they arrive, from where it stopped, and serves the HTTP JSON API
 * and the exports on `--listen` (loopback by default; elsewhere only with a bearer token). Once serving
 * it prints one JSON line on stdout: {"ready":true,"analytics":<API URL>,"dashboard":<its URL>,"partner":…,
 * "position":…}. Runs
 * until SIGINT/SIGTERM.
 */
export async function analyticsServeCommand(io: CliIo, options: AnalyticsServeOptions): Promise<number> {
  if (!isPartnerCode(options.partner)) {
    throw new CliError('USAGE', `--partner: "${options.partner}" is not a partner code, e.g. FRONTEX`);
  }
  if (!/^(nats|tls):\/\/.+/.test(options.nats)) {
    throw new CliError('USAGE', `--nats: "${options.nats}" must be a nats:// or tls:// URL`);
  }
  const { host, port } = hostPort(options.listen);
  const { AnalyticsApi, AnalyticsError, EXPORT_PATHS, InboxIngestor, isLoopbackHost } =
    await analyticsModule();
  const token = await tokenOf(io, options.tokenFile);
  if (token === undefined && !isLoopbackHost(host)) {
    throw new CliError(
      'USAGE',
      `--listen: ${host} is not loopback: the API needs a bearer token (--token-file or ${ANALYTICS_TOKEN_ENV})`,
    );
  }
  const manifest = await loadTrustedManifest(options.manifest);
  const log = pino({ level: 'warn' }, pino.destination(2));
  const load = (): Promise<ActiveAgreement[]> =>
    loadAgreements(options.agreements, manifest, options.partner, io.now(), log);
  let agreements: readonly ActiveAgreement[] = await load();
  const seed = options.nkey === undefined ? undefined : await readText('--nkey', options.nkey);
  const store = await openStore(options.db);
  let api: AnalyticsApi | undefined;
  let nc: NatsConnection | undefined;
  let ingestor: InboxIngestor | undefined;
  const reload = setInterval(() => {
    load().then(
      (next) => (agreements = next),
      (e: unknown) => log.warn({ err: e }, 'agreements not reloaded'),
    );
  }, AGREEMENTS_RELOAD_MS);
  try {
    try {
      api = await AnalyticsApi.start({
        store,
        host,
        port,
        ...(token === undefined ? {} : { token }),
        onError: (e) => log.error({ err: e }, 'analytics API request failed'),
      });
    } catch (e) {
      if (e instanceof AnalyticsError && e.code === 'TOKEN_REQUIRED') {
        throw new CliError('USAGE', `${e.message}: --token-file or ${ANALYTICS_TOKEN_ENV}`, { cause: e });
      }
      throw new CliError('IO', `--listen: cannot listen on ${options.listen}: ${(e as Error).message}`);
    }
    try {
      nc = await connect({
        servers: options.nats,
        name: 'wbx-analytics',
        timeout: 10_000,
        maxReconnectAttempts: -1,
        ...(seed === undefined ? {} : { authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)) }),
      });
    } catch (e) {
      throw new CliError('UNREACHABLE', `cannot connect to ${options.nats}: ${(e as Error).message}`, {
        cause: e,
      });
    }
    const failed = Promise.withResolvers<unknown>();
    ingestor = new InboxIngestor({
      nc,
      store,
      stream: INBOX_STREAM,
      msgId: inboxMsgId,
      partner: options.partner,
      manifest: () => manifest,
      agreements: () => agreements,
      now: io.now,
      onRefused: (seq, code, detail) => log.warn({ seq, code, detail }, 'inbox message not taken in'),
      onError: (e) => failed.resolve(e),
    });
    await ingestor.start();
    // The ready line, as `wbx gateway` prints one: the API's address and the inbox position it starts at.
    const ready = {
      ready: true,
      analytics: api.url,
      dashboard: `${api.url}/dashboard/`,
      partner: options.partner,
      position: ingestor.stats.position,
    };
    await write(io.stdout, `${JSON.stringify(ready)}\n`);
    await write(
      io.stderr,
      `analytics: API on ${api.url}/api/v1/ (exports: ${Object.keys(EXPORT_PATHS).join(', ')}), dashboard on ${api.url}/dashboard/\n`,
    );
    const stopped = new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
    const error = await Promise.race([stopped.then(() => undefined), failed.promise]);
    if (error !== undefined) {
      throw new CliError('INTERNAL', `ingest stopped: ${(error as Error).message}`, { cause: error });
    }
    const { stored, refused, position } = ingestor.stats;
    await write(io.stderr, `analytics: ${stored} kept, ${refused} refused, at seq ${position}\n`);
    return 0;
  } finally {
    clearInterval(reload);
    await ingestor?.stop();
    await nc?.close();
    await api?.close();
    await store.close();
  }
}

function exportQuery(options: AnalyticsExportOptions): ExportOptions {
  const version = options.sdmxVersion ?? '2.0';
  if (version !== '1.0' && version !== '2.0') {
    throw new CliError('USAGE', `--sdmx-version: "${version}" is not 1.0 or 2.0`);
  }
  return {
    ...(options.asOf === undefined ? {} : { asOf: parseCliDate('--as-of', options.asOf) }),
    ...(options.origin === undefined ? {} : { origin: options.origin }),
    ...(options.indicator === undefined ? {} : { indicator: options.indicator }),
    ...(options.period === undefined ? {} : { period: options.period }),
    sdmx: { version },
  };
}

/** The stable URL of an export (or of the MISP events) under a running node's API. */
function exportUrl(
  paths: Readonly<Record<string, string>>,
  base: string,
  format: string,
  q: ExportOptions,
): string {
  const path =
    format === 'misp' ? '/api/v1/misp.json' : Object.entries(paths).find(([, f]) => f === format)?.[0];
  const url = new URL(path ?? '/', base);
  if (q.asOf !== undefined) url.searchParams.set('asOf', q.asOf.toISOString());
  for (const name of ['origin', 'indicator', 'period'] as const) {
    const value = q[name];
    if (value !== undefined) url.searchParams.set(name, value);
  }
  return url.toString();
}

/**
 * `wbx analytics export`: the latest figures (as of `--as-of`) as CSV (long), JSON, Parquet or
 * SDMX-CSV, or the smuggling incidents as MISP events (`--format misp`): from the store file (`--db`)
 * or from a running node's API (`--url`, whose store file `serve` holds); to `--out` or stdout.
 */
export async function analyticsExportCommand(io: CliIo, options: AnalyticsExportOptions): Promise<number> {
  const format = options.format;
  if (!(FORMATS as readonly string[]).includes(format)) {
    throw new CliError('USAGE', `--format: "${format}" is not one of ${FORMATS.join(', ')}`);
  }
  const { EXPORT_PATHS, exportFigures, isExportFormat, smugglingMispEvents, writeParquet } =
    await analyticsModule();
  if ((options.db === undefined) === (options.url === undefined)) {
    throw new CliError('USAGE', 'name the store with exactly one of --db or --url');
  }
  if (format === 'parquet' && options.out === undefined) {
    throw new CliError('USAGE', '--format parquet needs --out <file>');
  }
  const q = exportQuery(options);
  let body: string | Uint8Array;
  if (options.url !== undefined) {
    const token = await tokenOf(io, options.tokenFile);
    let res: Response;
    try {
      res = await fetch(exportUrl(EXPORT_PATHS, options.url, format, q), {
        headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
      });
    } catch (e) {
      throw new CliError('UNREACHABLE', `cannot reach ${options.url}: ${(e as Error).message}`, { cause: e });
    }
    if (!res.ok) {
      const text = await res.text();
      const code = res.status === 401 ? 'USAGE' : 'INVALID_INPUT';
      throw new CliError(code, `${options.url} answered ${res.status}: ${text.trim()}`);
    }
    body = new Uint8Array(await res.arrayBuffer());
  } else {
    const store = await openStore(options.db ?? '');
    try {
      if (format === 'parquet' && options.out !== undefined) {
        await writeParquet(store, options.out, q);
        return 0;
      }
      if (format === 'misp') {
        const incidents = await store.records({ type: 'smuggling.incident' });
        body = `${JSON.stringify(smugglingMispEvents(incidents), null, 1)}\n`;
      } else if (isExportFormat(format)) body = await exportFigures(store, format, q);
      else throw new CliError('USAGE', `--format: "${format}" is not one of ${FORMATS.join(', ')}`);
    } finally {
      await store.close();
    }
  }
  if (options.out === undefined) {
    await write(io.stdout, typeof body === 'string' ? body : Buffer.from(body).toString('utf8'));
    return 0;
  }
  try {
    await writeFile(options.out, body);
  } catch (e) {
    throw new CliError('IO', `--out: cannot write ${options.out}: ${(e as Error).message}`, { cause: e });
  }
  return 0;
}

export function registerAnalyticsCommands(program: Command, io: CliIo, result: { exitCode: number }): void {
  const analytics = program
    .command('analytics')
    .description("the analytics node: the verified aggregates and records of a gateway's inbox, and exports");
  analytics
    .command('serve')
    .description(
      `take ${INBOX_STREAM} into the analytics store (DuckDB) as it fills and serve the HTTP JSON API and exports until SIGTERM`,
    )
    .requiredOption('--nats <url>', `the gateway's NATS (holding ${INBOX_STREAM})`)
    .option(
      '--nkey <file>',
      "nkey seed file to authenticate with (the gateway's <data>/nats-access/gateway.nkey)",
    )
    .requiredOption('--manifest <file>', 'the signed federation manifest')
    .requiredOption('--partner <code>', "this node's partner code (the agreements' recipient), e.g. FRONTEX")
    .requiredOption(
      '--agreements <dir>',
      "the gateway's agreements directory (each figure names its agreement)",
    )
    .requiredOption('--db <file>', 'the analytics store (DuckDB file; created if missing)')
    .option(
      '--listen <host:port>',
      'the API address; beyond loopback a bearer token is required',
      ANALYTICS_LISTEN_DEFAULT,
    )
    .option('--token-file <file>', `the API's bearer token (or ${ANALYTICS_TOKEN_ENV})`)
    .action(async (opts: AnalyticsServeOptions) => {
      result.exitCode = await analyticsServeCommand(io, opts);
    });
  analytics
    .command('export')
    .description(
      'the latest figures as csv, json, parquet or sdmx-csv; or smuggling incidents as MISP events (misp)',
    )
    .requiredOption('--format <format>', FORMATS.join('|'))
    .option('--db <file>', 'the analytics store (not while `serve` holds it: use --url)')
    .option('--url <url>', `a running node's API, e.g. http://${ANALYTICS_LISTEN_DEFAULT}`)
    .option('--token-file <file>', `the API's bearer token (or ${ANALYTICS_TOKEN_ENV})`)
    .option('--out <file>', 'write here (default: stdout; parquet needs a file)')
    .option('--as-of <time>', 'the vintages issued by then (YYYY-MM-DD or ISO 8601; default: now)')
    .option('--origin <code>', 'only figures of this origin')
    .option('--indicator <name>', 'only this indicator, e.g. crossing.irregular')
    .option('--period <prefix>', 'only periods starting so, e.g. 2024 or 2024-03')
    .option('--sdmx-version <v>', 'SDMX-CSV 2.0 (default) or 1.0 header')
    .action(async (opts: AnalyticsExportOptions) => {
      result.exitCode = await analyticsExportCommand(io, opts);
    });
}
