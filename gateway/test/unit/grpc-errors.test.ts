import { createServer as createTcpServer } from 'node:net';

import { credentials, Metadata, Server, ServerCredentials, status, type ServiceError } from '@grpc/grpc-js';
import { Event, IngestClient, IngestService, type IngestServer, type Receipt } from '@wbx/proto';
import { pino, type Logger } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { EXCHANGE_DENIALS, ExchangeError, type ExchangeErrorCode } from '../../src/exchange/errors.js';
import { EXCHANGE_STATUS, INGEST_STATUS, toRejection, toServiceError } from '../../src/grpc-errors.js';
import { isServiceError, statusDetails, statusReason } from '../../src/grpc-status-details.js';
import { IngestError, type IngestErrorCode } from '../../src/ingest-pipeline.js';

/** A logger whose lines the test reads. */
function capturingLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: pino({ level: 'info' }, { write: (s: string) => void lines.push(s) }), lines };
}

const server = new Server();
const { log, lines } = capturingLog();
let client: IngestClient;

/**
 * What the test server's Submit does with the event id it is given: `ingest:<CODE>` and `exchange:<CODE>`
 * fail with that domain error, `plain` with a bare NOT_FOUND (no details), `crash` with an unexpected
 * error, `silent` never answers.
 */
function fail(eventId: string): unknown {
  const [kind, code = ''] = eventId.split(':');
  if (kind === 'ingest') {
    const violations = [
      { path: 'persons[0].citizenship', code: 'REQUIRED' as const, message: 'is required' },
    ];
    return new IngestError(
      code as IngestErrorCode,
      `ingest ${code}`,
      code === 'INVALID_EVENT' ? violations : [],
    );
  }
  if (kind === 'exchange') {
    const violations = [{ path: 'resumeToken', code, message: 'not a token of this query' }];
    return new ExchangeError(
      code as ExchangeErrorCode,
      `exchange ${code}`,
      'the detail, for the log',
      violations,
    );
  }
  return new Error('a secret detail of the failure');
}

const handlers: IngestServer = {
  submit(call, callback): void {
    const id = call.request.eventId;
    if (id === 'silent') return;
    if (id === 'plain') {
      callback({ code: status.NOT_FOUND, details: 'no reason given' });
      return;
    }
    callback(toServiceError(fail(id), log, { eventId: id }));
  },
  submitStream(call): void {
    call.end();
  },
};

function submit(eventId: string, deadlineMs = 10_000): Promise<ServiceError> {
  return new Promise((resolve, reject) => {
    client.submit(
      Event.fromPartial({ eventId }),
      new Metadata(),
      { deadline: Date.now() + deadlineMs },
      (e: ServiceError | null, r?: Receipt) => {
        if (e === null) reject(new Error(`answered ${JSON.stringify(r)}`));
        else resolve(e);
      },
    );
  });
}

beforeAll(async () => {
  server.addService(IngestService, handlers);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    );
  });
  client = new IngestClient(`127.0.0.1:${port}`, credentials.createInsecure());
});

afterAll(() => {
  client.close();
  server.forceShutdown();
});

describe('toServiceError', () => {
  it('answers each Ingest code with its status, the code as ErrorInfo reason and the violations', async () => {
    const expected: Record<IngestErrorCode, string> = {
      INVALID_EVENT: 'INVALID_ARGUMENT',
      MALFORMED_MESSAGE: 'INVALID_ARGUMENT',
      EVENT_ID_CONFLICT: 'ALREADY_EXISTS',
      UNAVAILABLE: 'UNAVAILABLE',
      SHUTTING_DOWN: 'UNAVAILABLE',
    };
    expect(Object.keys(INGEST_STATUS).sort()).toEqual(Object.keys(expected).sort());
    for (const [code, name] of Object.entries(expected)) {
      const e = await submit(`ingest:${code}`);
      expect({ code: status[e.code], reason: statusDetails(e).reason, details: e.details }).toEqual({
        code: name,
        reason: code,
        details: `ingest ${code}`,
      });
    }
    expect(statusDetails(await submit('ingest:INVALID_EVENT')).violations).toEqual([
      { field: 'persons[0].citizenship', reason: 'REQUIRED', description: 'is required' },
    ]);
  });

  it('answers each Exchange code with its status and the code as reason; the detail stays here', async () => {
    const expected: Partial<Record<ExchangeErrorCode, string>> = {
      CERT_NOT_PINNED: 'PERMISSION_DENIED',
      PURPOSE_NOT_AGREED: 'PERMISSION_DENIED',
      WHERE_FIELD_NOT_DISCLOSED: 'PERMISSION_DENIED',
      BAD_RESUME_TOKEN: 'INVALID_ARGUMENT',
      RATE_LIMITED: 'RESOURCE_EXHAUSTED',
      UNKNOWN_REQUEST: 'NOT_FOUND',
      EXPIRED: 'FAILED_PRECONDITION',
      UNAVAILABLE: 'UNAVAILABLE',
    };
    for (const code of Object.keys(EXCHANGE_STATUS)) {
      const e = await submit(`exchange:${code}`);
      expect(statusReason(e)).toBe(code);
      expect(e.details).toBe(`exchange ${code}`);
      if (code in expected) expect(status[e.code]).toBe(expected[code as ExchangeErrorCode]);
      expect(statusDetails(e).violations).toEqual([
        { field: 'resumeToken', reason: code, description: 'not a token of this query' },
      ]);
    }
    expect(lines.join('')).not.toContain('the detail, for the log');
  });

  it('answers an unexpected error with a bare INTERNAL and logs it, never echoing it', async () => {
    const e = await submit('crash');
    expect({ code: status[e.code], reason: statusReason(e), details: e.details }).toEqual({
      code: 'INTERNAL',
      reason: 'INTERNAL',
      details: 'internal error',
    });
    expect(JSON.stringify(e.metadata.getMap())).not.toContain('secret');
    const logged = lines.map(
      (l) => JSON.parse(l) as { msg: string; eventId?: string; err?: { message: string } },
    );
    const entry = logged.find((l) => l.msg === 'unexpected error in a gRPC call' && l.eventId === 'crash');
    expect(entry?.err?.message).toBe('a secret detail of the failure');
  });
});

describe('statusReason', () => {
  it('names a status without ErrorInfo by its status name', async () => {
    const deadline = await submit('silent', 200);
    expect(statusDetails(deadline)).toEqual({ violations: [] });
    expect(statusReason(deadline)).toBe('DEADLINE_EXCEEDED');
    expect(statusReason(await submit('plain'))).toBe('NOT_FOUND');
  });

  it('names a gateway that is not there UNAVAILABLE, by its status', async () => {
    // A port that was free a moment ago: nothing listens there.
    const tcp = createTcpServer();
    const port = await new Promise<number>((resolve) =>
      tcp.listen(0, '127.0.0.1', () => resolve((tcp.address() as { port: number }).port)),
    );
    await new Promise<void>((resolve) => tcp.close(() => resolve()));
    const nobody = new IngestClient(`127.0.0.1:${port}`, credentials.createInsecure());
    try {
      const e = await new Promise<unknown>((resolve) => {
        nobody.submit(
          Event.fromPartial({ eventId: 'x' }),
          new Metadata(),
          { deadline: Date.now() + 10_000 },
          (err) => resolve(err),
        );
      });
      expect(isServiceError(e)).toBe(true);
      expect(statusReason(e as ServiceError)).toBe('UNAVAILABLE');
    } finally {
      nobody.close();
    }
  });
});

describe('toRejection', () => {
  it('rejects one event of a stream with its Ingest code, message and violations', () => {
    const violations = [{ path: 'occurredAt', code: 'REQUIRED' as const, message: 'is required' }];
    expect(toRejection(new IngestError('INVALID_EVENT', 'the event is invalid', violations), log)).toEqual({
      code: 'INVALID_EVENT',
      message: 'the event is invalid',
      violations,
    });
  });

  it('rejects an unexpected error as INTERNAL and logs it', () => {
    const before = lines.length;
    expect(toRejection(new TypeError('a secret'), log, { eventId: 'e1' })).toEqual({
      code: 'INTERNAL',
      message: 'internal error',
      violations: [],
    });
    expect(lines.slice(before).join('')).toContain('a secret');
  });
});

describe('ExchangeError.isDenial', () => {
  it('is true for the fixed list of denials, every code but UNAVAILABLE', () => {
    const codes = Object.keys(EXCHANGE_STATUS) as ExchangeErrorCode[];
    expect(codes.filter((c) => new ExchangeError(c, 'refused').isDenial).sort()).toEqual(
      [...EXCHANGE_DENIALS].sort(),
    );
    expect(codes.filter((c) => !new ExchangeError(c, 'refused').isDenial)).toEqual(['UNAVAILABLE']);
    // Every refusal on grounds of access is among them.
    for (const c of codes)
      if (EXCHANGE_STATUS[c] === status.PERMISSION_DENIED) expect(EXCHANGE_DENIALS).toContain(c);
  });
});
