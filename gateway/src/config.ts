import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';

import { isPartnerCode } from '@wbx/schema';
import YAML from 'yaml';
import * as z from 'zod';

/** `host:port`; the port may be 0 (any free port). */
const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/, 'must be host:port')
  .refine((s) => Number(s.slice(s.lastIndexOf(':') + 1)) <= 65_535, 'port must be 0..65535');

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SIZE_UNITS: Record<string, number> = { B: 1, KB: 2 ** 10, MB: 2 ** 20, GB: 2 ** 30, TB: 2 ** 40 };

/** A number with a unit, or a plain non-negative whole number; undefined if neither. */
function withUnit(v: unknown, units: Record<string, number>): number | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? v : undefined;
  if (typeof v !== 'string') return undefined;
  const m = /^(\d+)([A-Za-z]+)$/.exec(v);
  const factor = m?.[2] === undefined ? undefined : units[m[2]];
  return m?.[1] === undefined || factor === undefined ? undefined : Number(m[1]) * factor;
}

/** A duration: a number of milliseconds, or a number with a unit (ms, s, m, h, d). */
const duration = z.unknown().transform((v, ctx) => {
  const ms = withUnit(v, DURATION_UNITS);
  if (ms !== undefined) return ms;
  ctx.addIssue({ code: 'custom', message: 'must be a duration such as 500ms, 30s, 5m, 2h, 30d' });
  return z.NEVER;
});

/** A size in bytes: a number, or a number with a unit (KB, MB, GB, TB; binary multiples); -1: no limit. */
const size = z.unknown().transform((v, ctx) => {
  if (v === -1) return -1;
  const bytes = withUnit(v, SIZE_UNITS);
  if (bytes !== undefined) return bytes;
  ctx.addIssue({ code: 'custom', message: 'must be a size such as 512MB or 10GB (or -1: no limit)' });
  return z.NEVER;
});

const tls = z.strictObject({
  /** PEM server certificate chain. */
  cert: z.string().min(1),
  /** PEM private key. */
  key: z.string().min(1),
  /** PEM CA bundle for client certificates; with it, clients must present a certificate it signed. */
  clientCa: z.string().min(1).optional(),
});

/** A number of messages; -1: no limit. */
const msgCount = z
  .number()
  .int()
  .refine((n) => n === -1 || n >= 1, 'must be at least 1 (or -1: no limit)');

const DAY_MS = 86_400_000;
/** WBX_INBOX: as long as the longest retention an agreement may grant (3650 days), 10 GB. */
const INBOX_DEFAULTS = {
  maxAge: 3_650 * DAY_MS,
  maxBytes: 10 * 2 ** 30,
  maxMsgs: 10_000_000,
  checkEvery: 30_000,
  retentionSweep: 3_600_000,
  deleteUncovered: false,
};
const QUARANTINE_DEFAULTS = { maxAge: 90 * DAY_MS, maxBytes: 2 ** 30, maxMsgs: 1_000_000 };

const DEFAULT_SEAL_WORKERS = Math.max(0, availableParallelism() - 1);

/** A duration longer than 0. */
const timeout = duration.refine((ms) => ms > 0, 'must be longer than 0');

const LIMITS_DEFAULTS = {
  handshakeTimeout: 10_000,
  perAddress: 64,
  total: 1_024,
  idleTimeout: 300_000,
  maxConnectionAge: 3_600_000,
  maxConnectionAgeGrace: 300_000,
  keepaliveTime: 120_000,
  keepaliveTimeout: 20_000,
  maxConcurrentStreams: 100,
};

export const GatewayConfigSchema = z.strictObject({
  /** This gateway's partner code. */
  partner: z.string().refine(isPartnerCode, 'not a WBX partner code'),
  /** Path of the partner's Ed25519 private JWK (wbx keys generate). */
  key: z.string().min(1),
  /** Path of the signed federation manifest. */
  manifest: z.string().min(1),
  /** Directory for the gateway's own state, including the embedded nats-server's JetStream store. */
  data: z.string().min(1).default('./wbx-data'),
  nats: z
    .strictObject({
      /**
       * The partner's NATS (a cluster: its nodes' URLs, comma-separated); when absent, the gateway runs
       * and supervises its own nats-server.
       */
      url: z
        .string()
        .regex(
          /^(nats|tls):\/\/[^,]+(,(nats|tls):\/\/[^,]+)*$/,
          'must be nats:// or tls:// URLs, comma-separated',
        )
        .optional(),
      /** Path of the nats-server binary for the embedded server. */
      binary: z.string().min(1).default('nats-server'),
      /** How long a submission waits for NATS to come back before it fails with UNAVAILABLE. */
      publishTimeout: duration.default(10_000),
      /** The gateway's nkey seed file for an external NATS (the embedded one uses its own). */
      nkeyFile: z.string().min(1).optional(),
      /**
       * The embedded nats-server's client port (loopback); default: the one it took at its first start,
       * kept in `<data>/nats/port`, so that recipients find it again after a restart.
       */
      port: z.number().int().min(1).max(65_535).optional(),
      /**
       * A partner this one receives from whose NATS cannot be reached for longer than this is reported:
       * a warning, and `wbx_receive_origin_reachable{origin}` 0.
       */
      originUnreachableAfter: duration.default(60_000),
    })
    .default({ binary: 'nats-server', publishTimeout: 10_000, originUnreachableAfter: 60_000 }),
  /** Directory of signed bilateral agreements (JSON); changes take effect at run time. */
  agreements: z.string().min(1).optional(),
  /**
   * The NATS access files (wbx nats-config): recipients' nkeys and the authorization config. The
   * embedded nats-server uses and updates them; default `<data>/nats-access`.
   */
  access: z.string().min(1).optional(),
  /** Partners that share with this one: their NATS and the credentials they handed over. */
  receive: z
    .array(
      z.strictObject({
        partner: z.string().refine(isPartnerCode, 'not a WBX partner code'),
        url: z.string().regex(/^(nats|tls):\/\/.+/, 'must be a nats:// or tls:// URL'),
        nkeyFile: z.string().min(1),
        tlsCa: z.string().min(1).optional(),
      }),
    )
    .default([]),
  share: z
    .strictObject({
      /** How long after an aggregate period ends it still takes late events. */
      aggregateGrace: duration.default(3_600_000),
      /** How often closed aggregate periods are published. */
      flushEvery: duration.default(5_000),
      /** A closed period waits until no event came for it for this long (back-filled data). */
      aggregateSettle: duration.default(2_000),
      /** How often the agreements directory is checked for changes. */
      agreementsPoll: duration.default(500),
    })
    .default({ aggregateGrace: 3_600_000, flushEvery: 5_000, aggregateSettle: 2_000, agreementsPoll: 500 }),
  ingest: z
    .strictObject({
      /**
       * Worker threads that seal submissions arriving together (a bulk ingest); 0: all on the main
       * thread. Default: one fewer than the machine's cores.
       */
      sealWorkers: z.number().int().min(0).max(64).default(DEFAULT_SEAL_WORKERS),
    })
    .default({ sealWorkers: DEFAULT_SEAL_WORKERS }),
  audit: z
    .strictObject({
      /** A signed checkpoint after this many disclosures… */
      checkpointEntries: z.number().int().min(1).default(1_000),
      /** …or this long after the first unsealed one. */
      checkpointInterval: duration.default(10_000),
    })
    .default({ checkpointEntries: 1_000, checkpointInterval: 10_000 }),
  grpc: z
    .strictObject({
      listen: hostPort.default('127.0.0.1:7443'),
      tls: tls.optional(),
      /** Plaintext gRPC; refused unless the listen address is loopback. */
      insecure: z.boolean().default(false),
    })
    .default({ listen: '127.0.0.1:7443', insecure: false }),
  /**
   * gRPC Exchange and Federation for partners, always mutual TLS: a caller is the member whose pinned
   * certificate (manifest tlsCertSha256) it presents. Absent: this gateway answers no partner.
   */
  exchange: z
    .strictObject({
      listen: hostPort,
      tls: z.strictObject({
        cert: z.string().min(1),
        key: z.string().min(1),
        /** PEM CA bundle that signed the partners' client certificates. */
        clientCa: z.string().min(1),
      }),
      /** Match requests a caller may make per second (token bucket)… */
      matchRate: z.number().positive().default(5),
      /** …and at once after a quiet spell. */
      matchBurst: z.number().int().min(1).default(10),
      /** Subject references one Match request may carry. */
      matchMaxRefs: z.number().int().min(1).max(100_000).default(1_000),
    })
    .optional(),
  http: z
    .strictObject({
      /** Health (/healthz, /readyz) and Prometheus (/metrics). */
      listen: hostPort.default('127.0.0.1:9464'),
    })
    .default({ listen: '127.0.0.1:9464' }),
  streams: z
    .strictObject({
      /** How long WBX_EVENTS keeps events (0: forever). */
      maxAge: duration.default(0),
      /** How many bytes WBX_EVENTS may hold (-1: no limit). */
      maxBytes: size.default(-1),
      /** Window in which a re-submitted eventId is recognised and stored only once. */
      duplicateWindow: duration.default(86_400_000),
      /** JetStream replicas (3 in a production cluster). */
      replicas: z.number().int().min(1).max(5).default(1),
    })
    .default({ maxAge: 0, maxBytes: -1, duplicateWindow: 86_400_000, replicas: 1 }),
  /** WBX_INBOX: what partners shared with this one, verified and within its agreements. */
  inbox: z
    .strictObject({
      /** How long it keeps an event (0: forever); an older presentation is quarantined, not stored. */
      maxAge: duration.default(INBOX_DEFAULTS.maxAge),
      /** Bytes it may hold (-1: no limit); when full, new events wait at the origin. */
      maxBytes: size.default(INBOX_DEFAULTS.maxBytes),
      /** Events it may hold (-1: no limit). */
      maxMsgs: msgCount.default(INBOX_DEFAULTS.maxMsgs),
      /** How often the fill of WBX_INBOX and WBX_QUARANTINE is measured (gauge; a warning above 80 %). */
      checkEvery: duration.default(INBOX_DEFAULTS.checkEvery),
      /**
       * How often records are deleted whose agreements no longer let this partner keep them: each term's
       * retentionDays passed since receipt, or the agreement ended and says deleteOnEnd.
       */
      retentionSweep: timeout.default(INBOX_DEFAULTS.retentionSweep),
      /**
       * Whether the sweep also deletes records that no known agreement covers (an agreement file removed
       * rather than revoked). Off by default: they are kept, counted and warned about, since a removed file
       * is more often an operator's mistake than an end the partners signed.
       */
      deleteUncovered: z.boolean().default(INBOX_DEFAULTS.deleteUncovered),
    })
    .default(INBOX_DEFAULTS),
  /** WBX_QUARANTINE: what was received but refused, with its code; when full, the oldest goes. */
  quarantine: z
    .strictObject({
      maxAge: duration.default(QUARANTINE_DEFAULTS.maxAge),
      maxBytes: size.default(QUARANTINE_DEFAULTS.maxBytes),
      maxMsgs: msgCount.default(QUARANTINE_DEFAULTS.maxMsgs),
    })
    .default(QUARANTINE_DEFAULTS),
  /** Connection limits of every listener (Ingest, Exchange, HTTP); each listener counts its own. */
  limits: z
    .strictObject({
      /** A TLS handshake (HTTP: a request's headers) must finish within this; else the connection is closed. */
      handshakeTimeout: timeout.default(LIMITS_DEFAULTS.handshakeTimeout),
      /** Connections one client address (IPv6: one /64) may hold open; more are closed at once. */
      perAddress: z.number().int().min(1).default(LIMITS_DEFAULTS.perAddress),
      /** Connections a listener holds open at most; more are closed at once. */
      total: z.number().int().min(1).default(LIMITS_DEFAULTS.total),
      /** A connection without a call for this long is closed. */
      idleTimeout: timeout.default(LIMITS_DEFAULTS.idleTimeout),
      /** After this long (±10 %) a connection is asked to go away (GOAWAY; clients reconnect)… */
      maxConnectionAge: timeout.default(LIMITS_DEFAULTS.maxConnectionAge),
      /** …and this long later it is closed with whatever calls it still has. */
      maxConnectionAgeGrace: timeout.default(LIMITS_DEFAULTS.maxConnectionAgeGrace),
      /** The gateway pings each gRPC connection this often… */
      keepaliveTime: timeout.default(LIMITS_DEFAULTS.keepaliveTime),
      /** …and closes it when the answer does not come within this. */
      keepaliveTimeout: timeout.default(LIMITS_DEFAULTS.keepaliveTimeout),
      /** Calls (HTTP/2 streams) one gRPC connection may have open at once. */
      maxConcurrentStreams: z.number().int().min(1).default(LIMITS_DEFAULTS.maxConcurrentStreams),
    })
    .default(LIMITS_DEFAULTS),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    })
    .default({ level: 'info' }),
});

export type GatewayConfig = z.output<typeof GatewayConfigSchema>;

/** Stable codes of a refused configuration: INVALID_CONFIG unless a more precise one applies. */
export type ConfigErrorCode =
  | 'INVALID_CONFIG'
  /** The configured manifest is older than the one this gateway already trusts. */
  | 'MANIFEST_ROLLBACK'
  /** The configured manifest does not verify, or is no valid successor of the trusted one. */
  | 'MANIFEST_NOT_TRUSTED'
  /** The trusted manifest persisted in the data directory cannot be read or does not verify. */
  | 'MANIFEST_TRUST_STORE';

export class ConfigError extends Error {
  readonly code: ConfigErrorCode;

  constructor(
    readonly issues: readonly { path: string; message: string }[],
    options?: ErrorOptions & { readonly code?: ConfigErrorCode },
  ) {
    super(
      `invalid gateway configuration: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`,
      options,
    );
    this.name = new.target.name;
    this.code = options?.code ?? 'INVALID_CONFIG';
  }
}

type Tree = Record<string, unknown>;

function setPath(tree: Tree, path: readonly string[], value: unknown): void {
  let node = tree;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) node[key] = {};
    node = node[key] as Tree;
  }
  const last = path.at(-1);
  if (last !== undefined) node[last] = value;
}

/** Every setting's path, for its environment variable: grpc.tls.clientCa ⇄ WBX_GRPC_TLS_CLIENT_CA. */
const ENV_PATHS = [
  'partner',
  'key',
  'manifest',
  'data',
  'nats.url',
  'nats.binary',
  'nats.publishTimeout',
  'nats.nkeyFile',
  'nats.port',
  'nats.originUnreachableAfter',
  'agreements',
  'access',
  'share.aggregateGrace',
  'share.flushEvery',
  'share.aggregateSettle',
  'share.agreementsPoll',
  'ingest.sealWorkers',
  'audit.checkpointEntries',
  'audit.checkpointInterval',
  'grpc.listen',
  'grpc.insecure',
  'grpc.tls.cert',
  'grpc.tls.key',
  'grpc.tls.clientCa',
  'exchange.listen',
  'exchange.tls.cert',
  'exchange.tls.key',
  'exchange.tls.clientCa',
  'exchange.matchRate',
  'exchange.matchBurst',
  'exchange.matchMaxRefs',
  'http.listen',
  'streams.maxAge',
  'streams.maxBytes',
  'streams.duplicateWindow',
  'streams.replicas',
  'inbox.maxAge',
  'inbox.maxBytes',
  'inbox.maxMsgs',
  'inbox.checkEvery',
  'inbox.retentionSweep',
  'inbox.deleteUncovered',
  'quarantine.maxAge',
  'quarantine.maxBytes',
  'quarantine.maxMsgs',
  'limits.handshakeTimeout',
  'limits.perAddress',
  'limits.total',
  'limits.idleTimeout',
  'limits.maxConnectionAge',
  'limits.maxConnectionAgeGrace',
  'limits.keepaliveTime',
  'limits.keepaliveTimeout',
  'limits.maxConcurrentStreams',
  'log.level',
] as const;

export function envName(path: string): string {
  return `WBX_${path
    .replace(/\./g, '_')
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .toUpperCase()}`;
}

function envValue(raw: string): unknown {
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  if (/^-?\d+(\.\d+)?$/.test(raw)) return Number(raw);
  return raw;
}

/**
 * Builds the gateway's configuration: the file (YAML or JSON) if any, then `WBX_…` environment variables,
 * then command-line flags, each overriding the one before; validated with every problem named by path.
 */
export async function loadGatewayConfig(
  file: string | undefined,
  env: NodeJS.ProcessEnv,
  flags: Readonly<Record<string, unknown>>,
): Promise<GatewayConfig> {
  let tree: Tree = {};
  if (file !== undefined) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      throw new ConfigError([{ path: '', message: `cannot read ${file}: ${(e as Error).message}` }], {
        cause: e,
      });
    }
    try {
      const parsed: unknown = /\.json$/i.test(file) ? JSON.parse(text) : YAML.parse(text);
      if (parsed !== null && parsed !== undefined && (typeof parsed !== 'object' || Array.isArray(parsed))) {
        throw new Error('the configuration must be a mapping');
      }
      tree = (parsed ?? {}) as Tree;
    } catch (e) {
      throw new ConfigError([{ path: '', message: `${file}: ${(e as Error).message}` }], { cause: e });
    }
  }
  for (const path of ENV_PATHS) {
    const raw = env[envName(path)];
    if (raw !== undefined && raw !== '') setPath(tree, path.split('.'), envValue(raw));
  }
  for (const [path, value] of Object.entries(flags)) {
    if (value !== undefined) setPath(tree, path.split('.'), value);
  }
  const result = GatewayConfigSchema.safeParse(tree);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.flatMap((i) =>
        i.code === 'unrecognized_keys'
          ? i.keys.map((key) => ({
              path: [...i.path, key].map(String).join('.'),
              message: `unknown setting ${key}`,
            }))
          : [{ path: i.path.map(String).join('.'), message: i.message }],
      ),
    );
  }
  const config = result.data;
  if (config.grpc.insecure && !isLoopback(config.grpc.listen)) {
    throw new ConfigError([
      { path: 'grpc.insecure', message: 'plaintext gRPC is allowed on a loopback address only' },
    ]);
  }
  if (!config.grpc.insecure && config.grpc.tls === undefined) {
    throw new ConfigError([
      { path: 'grpc.tls', message: 'set grpc.tls (cert, key[, clientCa]) or grpc.insecure on loopback' },
    ]);
  }
  return config;
}

export function isLoopback(hostPortText: string): boolean {
  const host = hostPortText.slice(0, hostPortText.lastIndexOf(':')).replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
