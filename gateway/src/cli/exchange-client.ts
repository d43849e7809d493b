import { readFile } from 'node:fs/promises';

import { credentials, type ServiceError } from '@grpc/grpc-js';
import { ExchangeClient } from '@wbx/proto';

import { statusDetails } from '../node/grpc-errors.js';
import { CliError } from './errors.js';
import { write, type CliIo } from './io.js';

/** The flags every Exchange command takes: where, and the mTLS material (Exchange is never plaintext). */
export interface ExchangeFlags {
  gateway: string;
  tlsCa: string;
  cert: string;
  key: string;
  agreement: string;
  purpose?: string;
}

async function readPem(flag: string, path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    throw new CliError('IO', `${flag}: cannot read ${path}: ${(e as Error).message}`, 2, { cause: e });
  }
}

/** An Exchange client over mutual TLS with the partner's client certificate. */
export async function openExchange(flags: ExchangeFlags): Promise<ExchangeClient> {
  if (!/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(flags.gateway)) {
    throw new CliError('USAGE', `--gateway: "${flags.gateway}" must be host:port`);
  }
  const [ca, cert, key] = await Promise.all([
    readPem('--tls-ca', flags.tlsCa),
    readPem('--cert', flags.cert),
    readPem('--key', flags.key),
  ]);
  return new ExchangeClient(flags.gateway, credentials.createSsl(ca, key, cert));
}

/** Calls a unary method as a promise. */
export function unary<Res>(start: (cb: (e: ServiceError | null, r: Res) => void) => unknown): Promise<Res> {
  return new Promise((resolve, reject) => {
    start((e, r) => (e ? reject(e) : resolve(r)));
  });
}

/** Reports a refused or failed call as `wbx: <REASON>: <message>` and returns exit status 1. */
export async function reportCallError(io: CliIo, e: unknown): Promise<number> {
  const se = e as Partial<ServiceError>;
  if (typeof se.code !== 'number' || se.metadata === undefined) throw e;
  const reason = statusDetails(se as ServiceError).reason ?? 'UNAVAILABLE';
  await write(io.stderr, `wbx: ${reason}: ${se.details ?? se.message ?? ''}\n`);
  return 1;
}
