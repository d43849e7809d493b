import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';

import { credentials, Metadata, Server, ServerCredentials, type ServiceError } from '@grpc/grpc-js';
import { Event, IngestClient, IngestService } from '@wbx/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { exitStatus } from '../src/errors.js';
import { reportCallError } from '../src/exchange-client.js';
import type { CliIo } from '../src/io.js';
import { wbx } from '../src/run-captured.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wbx-errors-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The one error line a run printed: `wbx: <CODE>: <message>`, split. */
function errorLine(stderr: string): { code: string; message: string } {
  const m = /^wbx: ([A-Z][A-Z0-9_]*): (.*)\n$/.exec(stderr);
  if (m === null) throw new Error(`not one error line: ${JSON.stringify(stderr)}`);
  return { code: m[1] ?? '', message: m[2] ?? '' };
}

describe('exitStatus', () => {
  it('is 2 for usage, configuration and I/O, 130 when interrupted, 70 for a bug, 1 for every other code', () => {
    const usage = ['USAGE', 'IO', 'INVALID_CONFIG', 'MANIFEST_NOT_TRUSTED', 'NATS_BINARY_NOT_FOUND'];
    const usage2 = ['NATS_START_FAILED', 'AGREEMENTS_DIR_UNREADABLE', 'REVOCATIONS_UNREADABLE'];
    for (const code of [...usage, ...usage2]) expect([code, exitStatus(code)]).toEqual([code, 2]);
    expect(exitStatus('INTERRUPTED')).toBe(130);
    expect(exitStatus('INTERNAL')).toBe(70);
    const failed = ['INVALID_INPUT', 'UNREACHABLE', 'NOT_FOUND', 'STREAM_BROKEN', 'INSUFFICIENT_SIGNATURES'];
    const refused = ['PURPOSE_NOT_AGREED', 'RATE_LIMITED', 'DEADLINE_EXCEEDED', 'UNAVAILABLE'];
    for (const code of [...failed, ...refused]) expect([code, exitStatus(code)]).toEqual([code, 1]);
  });
});

describe('wbx errors', () => {
  it('prints a command line commander refuses as USAGE, exit 2', async () => {
    const missing = await wbx(['generate']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^wbx: USAGE: required option '--partner <code>' not specified\n/);
    const unknown = await wbx(['validate', '--nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^wbx: USAGE: unknown option '--nope'\n/);
  });

  it('exits 2 on a local file it cannot write, as the README says of I/O errors', async () => {
    const blocker = join(dir, 'a-file');
    await writeFile(blocker, '');
    const r = await wbx(['keys', 'generate', '--partner', 'MK', '--out', join(blocker, 'keys')]);
    expect(r.code).toBe(2);
    expect(errorLine(r.stderr).code).toBe('IO');
  });

  it("puts the reported error's own code in front, never inside the message", async () => {
    const manifest = join(dir, 'not-a-manifest.json');
    await writeFile(manifest, '{}');
    const r = await wbx(['verify', '--manifest', manifest], { stdin: '' });
    expect(r.code).toBe(1);
    const { code, message } = errorLine(r.stderr);
    expect(code).toBe('MALFORMED_MANIFEST');
    expect(message).toMatch(/^manifest rejected: /);
    expect(message).not.toContain(code);
    expect(message).not.toContain('INVALID_INPUT');
  });

  it('exits 2 on a configuration the gateway refuses, under the configuration error code', async () => {
    const r = await wbx(['gateway', '--config', join(dir, 'absent.yaml')]);
    expect(r.code).toBe(2);
    expect(errorLine(r.stderr).code).toBe('INVALID_CONFIG');
  });
});

describe('reportCallError', () => {
  const server = new Server();
  let client: IngestClient;
  beforeAll(async () => {
    // A gateway that never answers: every call ends at its deadline.
    server.addService(IngestService, { submit: () => undefined, submitStream: () => undefined });
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

  it('names a status without ErrorInfo by its status name (not UNAVAILABLE), exit 1', async () => {
    const e = await new Promise<ServiceError | null>((resolve) => {
      client.submit(
        Event.fromPartial({ eventId: 'x' }),
        new Metadata(),
        { deadline: Date.now() + 200 },
        (err) => resolve(err),
      );
    });
    const stderr = new PassThrough();
    const chunks: Buffer[] = [];
    stderr.on('data', (b: Buffer) => chunks.push(b));
    const io: CliIo = {
      stdin: Readable.from([]),
      stdout: new PassThrough(),
      stderr,
      interactive: false,
      now: () => new Date(),
    };
    expect(await reportCallError(io, e, 'while testing')).toBe(1);
    const { code, message } = errorLine(Buffer.concat(chunks).toString());
    expect(code).toBe('DEADLINE_EXCEEDED');
    expect(message).toMatch(/^while testing: /);
    expect(message).not.toContain('DEADLINE_EXCEEDED');
  });

  it('throws anything that is not a gRPC error again', async () => {
    const io: CliIo = {
      stdin: Readable.from([]),
      stdout: new PassThrough(),
      stderr: new PassThrough(),
      interactive: false,
      now: () => new Date(),
    };
    await expect(reportCallError(io, new TypeError('a bug'))).rejects.toThrow('a bug');
  });
});
