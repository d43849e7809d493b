import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { dashboardStatic, dashboardView } from './dashboard/routes.js';
import { AnalyticsError, type AnalyticsErrorCode } from './errors.js';
import { EXPORT_MEDIA_TYPES, exportFigures, type ExportFormat } from './export.js';
import type { CellRef } from './figure.js';
import { smugglingMispEvents } from './misp.js';
import { totalOf, type AnalyticsStore, type FigureQuery } from './store.js';

export interface AnalyticsApiOptions {
  readonly store: AnalyticsStore;
  /** Host to bind; default 127.0.0.1. Anything beyond loopback needs `token`. */
  readonly host?: string;
  /** Port; default 0 (any free one). */
  readonly port?: number;
  /** The bearer token every request must carry (required when not on loopback). */
  readonly token?: string;
  /** Logs what went wrong inside (never sent to the caller). */
  readonly onError?: (error: unknown) => void;
}

/** The stable export URLs under the API, by format. */
export const EXPORT_PATHS: Readonly<Record<string, ExportFormat>> = {
  '/api/v1/export.csv': 'csv',
  '/api/v1/export.json': 'json',
  '/api/v1/export.parquet': 'parquet',
  '/api/v1/export.sdmx.csv': 'sdmx-csv',
};

const STATUS: Partial<Record<AnalyticsErrorCode, number>> = {
  INVALID_ARGUMENT: 400,
  UNAUTHORIZED: 401,
  NOT_FOUND: 404,
  UNIT_MISMATCH: 409,
};

/** Whether `host` is a loopback address or name (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

function timeParam(text: string | null): Date | undefined {
  if (text === null || text === '') return undefined;
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new AnalyticsError('INVALID_ARGUMENT', `asOf: "${text}" is not a date-time`);
  return new Date(t);
}

function figureQuery(params: URLSearchParams): FigureQuery {
  const asOf = timeParam(params.get('asOf'));
  const pick = (name: string): string | undefined => params.get(name) ?? undefined;
  const q: Record<string, unknown> = {
    origin: pick('origin'),
    indicator: pick('indicator'),
    agreementId: pick('agreement'),
    period: pick('period'),
    asOf,
  };
  return Object.fromEntries(Object.entries(q).filter(([, v]) => v !== undefined));
}

function cellRef(params: URLSearchParams): CellRef {
  const need = (name: string): string => {
    const v = params.get(name);
    if (v === null || v === '') throw new AnalyticsError('INVALID_ARGUMENT', `${name} is required`);
    return v;
  };
  let dimensions: unknown;
  try {
    dimensions = JSON.parse(need('dimensions'));
  } catch (e) {
    throw new AnalyticsError('INVALID_ARGUMENT', 'dimensions must be a JSON object', { cause: e });
  }
  if (
    typeof dimensions !== 'object' ||
    dimensions === null ||
    Array.isArray(dimensions) ||
    Object.values(dimensions).some((v) => typeof v !== 'string')
  ) {
    throw new AnalyticsError('INVALID_ARGUMENT', 'dimensions must be a JSON object of strings');
  }
  return {
    origin: need('origin'),
    agreementId: need('agreement'),
    indicator: need('indicator'),
    period: need('period'),
    dimensions: dimensions as Record<string, string>,
  };
}

/**
 * The analytics node's HTTP JSON API (read-only, GET):
 *
 * - `/api/v1/health`: the inbox position taken in;
 * - `/api/v1/figures?origin&indicator&agreement&period&asOf`: the latest vintage of each series as of;
 * - `/api/v1/total?…` (same filters): their sum, of one unit only (409 UNIT_MISMATCH), as an interval
 *   where suppressed cells are among them;
 * - `/api/v1/cell?origin&agreement&indicator&period&dimensions={json}&asOf`: one cell as of a time;
 * - `/api/v1/vintages?…` (as /cell): every vintage of one cell;
 * - `/api/v1/provenance/<origin>/<event id>`: the sealed aggregate or record and where it came from;
 * - `/api/v1/records?type&origin&withdrawn=true`: the records kept (their latest version; withdrawn
 *   ones only when asked);
 * - `/api/v1/export.{csv,json,parquet,sdmx.csv}?…` (figure filters): the exports;
 * - `/api/v1/misp.json`: the smuggling incidents held, as MISP events;
 * - `/dashboard/` (and `/`): the dashboard page and its assets (no figures: served without the token;
 *   the page sends a token given as `#token=…` with its API requests);
 * - `/api/v1/dashboard/{indicators,nationalities,route,demographics,warnings}`: its views.
 *
 * Bound to loopback by default; bound elsewhere it refuses to start without a bearer token. With a
 * token, every request must carry it (`Authorization: Bearer <token>`), on loopback too.
 */
export class AnalyticsApi {
  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(options: AnalyticsApiOptions): Promise<AnalyticsApi> {
    const host = options.host ?? '127.0.0.1';
    const token = options.token === '' ? undefined : options.token;
    if (token === undefined && !isLoopbackHost(host)) {
      throw new AnalyticsError(
        'TOKEN_REQUIRED',
        `the analytics API bound to ${host} (not loopback) needs a bearer token`,
      );
    }
    const expected = token === undefined ? undefined : digest(token);
    const server = createServer((req, res) => {
      void handle(options, expected, req, res);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const shown = host.includes(':') ? `[${host}]` : host;
    return new AnalyticsApi(server, `http://${shown}:${port}`);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
  }
}

function send(res: ServerResponse, status: number, type: string, body: string | Uint8Array): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

const json = (res: ServerResponse, status: number, value: unknown): void =>
  send(res, status, 'application/json', `${JSON.stringify(value)}\n`);

async function handle(
  options: AnalyticsApiOptions,
  expected: Buffer | undefined,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  try {
    const page = await dashboardStatic(new URL(req.url ?? '/', 'http://localhost').pathname);
    if (page !== undefined && (req.method === 'GET' || req.method === 'HEAD')) {
      send(res, 200, page.type, page.body);
      return;
    }
    if (expected !== undefined) {
      const header = req.headers.authorization ?? '';
      const match = /^Bearer (.+)$/.exec(header);
      if (match?.[1] === undefined || !timingSafeEqual(digest(match[1]), expected)) {
        res.setHeader('www-authenticate', 'Bearer realm="wbx-analytics"');
        throw new AnalyticsError('UNAUTHORIZED', 'a valid bearer token is required');
      }
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      throw new AnalyticsError('INVALID_ARGUMENT', 'only GET is served');
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    const { store } = options;
    const params = url.searchParams;
    const path = url.pathname;
    const format = EXPORT_PATHS[path];
    if (format !== undefined) {
      const body = await exportFigures(store, format, figureQuery(params));
      send(res, 200, EXPORT_MEDIA_TYPES[format], body);
      return;
    }
    if (path === '/api/v1/health') return json(res, 200, { ok: true, position: await store.position() });
    if (path === '/api/v1/figures')
      return json(res, 200, { figures: await store.figures(figureQuery(params)) });
    if (path === '/api/v1/total') {
      const total = totalOf(await store.figures(figureQuery(params)));
      if (total === undefined) throw new AnalyticsError('NOT_FOUND', 'no figures match');
      return json(res, 200, total);
    }
    if (path === '/api/v1/cell') {
      const figure = await store.valueAsOf(cellRef(params), timeParam(params.get('asOf')) ?? new Date());
      if (figure === undefined) throw new AnalyticsError('NOT_FOUND', 'no such cell at that time');
      return json(res, 200, figure);
    }
    if (path === '/api/v1/vintages')
      return json(res, 200, { vintages: await store.vintages(cellRef(params)) });
    if (path === '/api/v1/records') {
      const q = {
        type: params.get('type') ?? undefined,
        origin: params.get('origin') ?? undefined,
        withdrawn: params.get('withdrawn') === 'true' ? true : undefined,
      };
      const clean = Object.fromEntries(Object.entries(q).filter(([, v]) => v !== undefined));
      return json(res, 200, { records: await store.records(clean) });
    }
    const view = await dashboardView(store, path, params);
    if (view !== undefined) return json(res, 200, view);
    if (path === '/api/v1/misp.json') {
      return json(res, 200, smugglingMispEvents(await store.records({ type: 'smuggling.incident' })));
    }
    const prov = /^\/api\/v1\/provenance\/([A-Z0-9]+)\/([0-9a-f-]{36})$/.exec(path);
    if (prov?.[1] !== undefined && prov[2] !== undefined) {
      const found = await store.provenance(prov[1], prov[2]);
      if (found === undefined) throw new AnalyticsError('NOT_FOUND', 'no such aggregate or record');
      return json(res, 200, found);
    }
    throw new AnalyticsError('NOT_FOUND', 'no such resource');
  } catch (e) {
    const known = e instanceof AnalyticsError ? STATUS[e.code] : undefined;
    if (e instanceof AnalyticsError && known !== undefined) {
      json(res, known, { error: { code: e.code, message: e.message } });
      return;
    }
    options.onError?.(e);
    json(res, 500, { error: { code: 'INTERNAL', message: 'internal error' } });
  }
}
