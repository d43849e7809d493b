import { credentials, type ServiceError } from '@grpc/grpc-js';
import {
  ExchangeClient,
  FederationClient,
  type MatchRequest,
  type MatchResponse,
  type QueryEvent,
  type QueryEnd,
  QueryRequest,
  type QueryResponse,
  type ReadmissionCase,
} from '@wbx/proto';

import { unary } from '@wbx/cli';
import { statusDetails } from '@wbx/gateway';

export { unary };
import type { CertFiles, TestPki } from '@wbx/fixtures';

export interface Clients {
  readonly exchange: ExchangeClient;
  readonly federation: FederationClient;
  close(): void;
}

/** Exchange and Federation clients over mTLS with `cert`, trusting the PKI's CA A. */
export async function exchangeClients(
  pki: TestPki,
  address: string,
  cert: CertFiles,
  ca = pki.caA,
): Promise<Clients> {
  const { cert: c, key } = await pki.pem(cert);
  const { readFile } = await import('node:fs/promises');
  const creds = credentials.createSsl(await readFile(ca), key, c);
  const exchange = new ExchangeClient(address, creds);
  const federation = new FederationClient(address, creds);
  return {
    exchange,
    federation,
    close() {
      exchange.close();
      federation.close();
    },
  };
}

/** The gateway cuts Query batches at about 1 MiB of presentations, one event past it at most (≤ 64 KiB). */
const MAX_BATCH_BYTES = 1024 * 1024 + 64 * 1024;

/** Runs a Query to its end: the events and the closing message. Fails on a message over MAX_BATCH_BYTES. */
export function query(
  client: ExchangeClient,
  req: Partial<QueryRequest>,
): Promise<{ events: QueryEvent[]; end: QueryEnd }> {
  return new Promise((resolve, reject) => {
    const events: QueryEvent[] = [];
    let end: QueryEnd | undefined;
    const call = client.query(QueryRequest.fromPartial(req));
    call.on('data', (m: QueryResponse) => {
      const bytes = m.events.reduce((n, e) => n + e.presentation.length, 0);
      if (bytes > MAX_BATCH_BYTES) reject(new Error(`a Query message of ${bytes} bytes of presentations`));
      events.push(...m.events);
      if (m.end !== undefined) end = m.end;
    });
    call.on('error', reject);
    call.on('end', () =>
      end === undefined ? reject(new Error('no end message')) : resolve({ events, end }),
    );
  });
}

export const match = (c: ExchangeClient, req: MatchRequest): Promise<MatchResponse> =>
  unary<MatchResponse>((cb) => c.match(req, cb));

export type { ReadmissionCase };

/** The status code and ErrorInfo reason a call failed with. */
export async function refusal(p: Promise<unknown>): Promise<{ code: number; reason: string | undefined }> {
  try {
    await p;
  } catch (e) {
    const se = e as ServiceError;
    return { code: se.code, reason: statusDetails(se).reason };
  }
  throw new Error('the call succeeded');
}
