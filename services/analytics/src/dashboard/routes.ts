import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';

import { AnalyticsError } from '../errors.js';
import type { AnalyticsStore } from '../store.js';
import { DASHBOARD_HTML, DASHBOARD_JS } from './client.js';
import {
  demographicsView,
  indicatorsView,
  lagView,
  nationalityView,
  originsView,
  readmissionView,
  receptionView,
  routeView,
  warningsView,
} from './views.js';

/** A response body and its media type. */
export interface Served {
  readonly type: string;
  readonly body: string | Uint8Array;
}

const require = createRequire(import.meta.url);

/** uPlot's browser build, from the installed npm package (never a CDN). */
const UPLOT_FILES: Readonly<Record<string, { file: string; type: string }>> = {
  'uPlot.iife.min.js': { file: 'uplot/dist/uPlot.iife.min.js', type: 'text/javascript; charset=utf-8' },
  'uPlot.min.css': { file: 'uplot/dist/uPlot.min.css', type: 'text/css; charset=utf-8' },
};

const assetCache = new Map<string, Uint8Array>();

async function asset(name: string): Promise<Served | undefined> {
  if (name === 'dashboard.js') return { type: 'text/javascript; charset=utf-8', body: DASHBOARD_JS };
  const known = UPLOT_FILES[name];
  if (known === undefined) return undefined;
  let body = assetCache.get(name);
  if (body === undefined) {
    body = await readFile(require.resolve(known.file));
    assetCache.set(name, body);
  }
  return { type: known.type, body };
}

/**
 * The dashboard's page and static assets (`/dashboard/`, `/dashboard/assets/<name>`): they carry no
 * figures, so a browser can load them before it holds the token; undefined for any other path.
 */
export async function dashboardStatic(path: string): Promise<Served | undefined> {
  if (path === '/' || path === '/dashboard' || path === '/dashboard/') {
    return { type: 'text/html; charset=utf-8', body: DASHBOARD_HTML };
  }
  const m = /^\/dashboard\/assets\/([A-Za-z0-9.]+)$/.exec(path);
  return m?.[1] === undefined ? undefined : asset(m[1]);
}

function topParam(text: string | null): number | undefined {
  if (text === null) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 100) {
    throw new AnalyticsError('INVALID_ARGUMENT', 'top must be an integer from 1 to 100');
  }
  return n;
}

const optional = (params: URLSearchParams, name: string): Record<string, string> => {
  const v = params.get(name);
  return v === null || v === '' ? {} : { [name]: v };
};

/** A calendar day `YYYY-MM-DD` that exists. */
const isDay = (v: string): boolean =>
  /^\d{4}-\d{2}-\d{2}$/.test(v) && new Date(`${v}T00:00:00Z`).toISOString().startsWith(v);

/** Views computed per store, by request, with the inbox position they were computed at. */
const computed = new WeakMap<AnalyticsStore, Map<string, { position: number; value: unknown }>>();
const CACHED_VIEWS = 64;

/**
 * The dashboard's JSON views (`/api/v1/dashboard/<view>`), computed in the store: indicators,
 * nationalities (`?indicator&period&top`), route (`?indicator&year`), demographics (`?indicator&period`)
 * lag (`?indicator&maxLag`), warnings (`?indicator`), readmission, reception (`?asOf`) and origins (what
 * each origin's figures rest on). Undefined for any other path. A view is computed again only once the
 * store has taken in more of the inbox (its position moved): every write moves it.
 */
export async function dashboardView(
  store: AnalyticsStore,
  path: string,
  params: URLSearchParams,
): Promise<unknown> {
  if (!path.startsWith('/api/v1/dashboard/')) return undefined;
  const key = `${path}?${[...params].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).join('&')}`;
  const position = await store.position();
  const cache = computed.get(store) ?? new Map<string, { position: number; value: unknown }>();
  computed.set(store, cache);
  const hit = cache.get(key);
  if (hit?.position === position) return hit.value;
  const value = await computeView(store, path, params);
  if (value !== undefined) {
    if (cache.size >= CACHED_VIEWS) cache.clear();
    cache.set(key, { position, value });
  }
  return value;
}

async function computeView(store: AnalyticsStore, path: string, params: URLSearchParams): Promise<unknown> {
  const m = /^\/api\/v1\/dashboard\/([a-z]+)$/.exec(path);
  switch (m?.[1]) {
    case 'indicators':
      return { series: await indicatorsView(store) };
    case 'nationalities': {
      const top = topParam(params.get('top'));
      return nationalityView(store, {
        ...optional(params, 'indicator'),
        ...optional(params, 'period'),
        ...(top === undefined ? {} : { top }),
      });
    }
    case 'route':
      return routeView(store, { ...optional(params, 'indicator'), ...optional(params, 'year') });
    case 'demographics':
      return demographicsView(store, { ...optional(params, 'indicator'), ...optional(params, 'period') });
    case 'lag': {
      const maxLag = params.get('maxLag');
      const lag = maxLag === null ? undefined : Number(maxLag);
      if (lag !== undefined && (!Number.isInteger(lag) || lag < 0 || lag > 12)) {
        throw new AnalyticsError('INVALID_ARGUMENT', 'maxLag must be an integer from 0 to 12');
      }
      return lagView(store, {
        ...optional(params, 'indicator'),
        ...(lag === undefined ? {} : { maxLag: lag }),
      });
    }
    case 'origins':
      return originsView(store);
    case 'readmission':
      return readmissionView(store);
    case 'reception': {
      const asOf = params.get('asOf');
      if (asOf !== null && asOf !== '' && !isDay(asOf)) {
        throw new AnalyticsError('INVALID_ARGUMENT', 'asOf must be a day (YYYY-MM-DD)');
      }
      return receptionView(store, optional(params, 'asOf'));
    }
    case 'warnings':
      return warningsView(store, optional(params, 'indicator'));
    default:
      return undefined;
  }
}
