import { readFile } from 'node:fs/promises';

import { EVENTS_STREAM } from '@wbx/gateway';
import { Event, type ReadmissionCase, type Receipt } from '@wbx/proto';
import { validateEvent, type ValidEvent } from '@wbx/schema';
import { createSealer, SealError, verifyPresentation } from '@wbx/seal';
import type { Command } from 'commander';

import { CliError } from './errors.js';
import { exchangeFlags } from './exchange.js';
import { openIngestClient } from './ingest.js';
import { openExchange, reportCallError, unary, type ExchangeFlags } from './exchange-client.js';
import { write, type CliIo } from './io.js';
import { loadPrivateKeyFile } from './key-file.js';
import { loadTrustedManifest } from './seal.js';

const PURPOSE = 'return-readmission';

export interface SubmitOptions extends ExchangeFlags {
  sealKey: string;
  file: string;
  /** The requesting state's own gateway (Ingest), to keep the request in its WBX_EVENTS too. */
  keepAt?: string;
  keepInsecure?: boolean;
  keepTlsCa?: string;
  keepCert?: string;
  keepKey?: string;
}

/**
 * Stores the request in the requesting state's own gateway first: both sides keep every step. Resolves
 * to the exit status of a failure, reported on stderr (then nothing is sent).
 */
async function keep(io: CliIo, o: SubmitOptions, event: ValidEvent): Promise<number | undefined> {
  if (o.keepAt === undefined) return undefined;
  const client = await openIngestClient(
    {
      gateway: o.keepAt,
      ...(o.keepInsecure === true ? { insecure: true } : {}),
      ...(o.keepTlsCa === undefined ? {} : { tlsCa: o.keepTlsCa }),
      ...(o.keepCert === undefined ? {} : { cert: o.keepCert }),
      ...(o.keepKey === undefined ? {} : { key: o.keepKey }),
    },
    {
      gateway: '--keep-at',
      insecure: '--keep-insecure',
      tlsCa: '--keep-tls-ca',
      cert: '--keep-cert',
      key: '--keep-key',
    },
  );
  try {
    const receipt = await unary<Receipt>((cb) => client.submit(Event.fromJSON(event), cb));
    await write(
      io.stderr,
      `kept at ${o.keepAt}: ${receipt.eventId} seq ${receipt.seq}${receipt.duplicate ? ' (already there)' : ''}\n`,
    );
    return undefined;
  } catch (e) {
    return await reportCallError(io, e, 'not kept at your own gateway, so not sent');
  } finally {
    client.close();
  }
}

export interface AnswerOptions extends ExchangeFlags {
  request: string;
  outcome: string;
  reason?: string;
}

export interface StatusOptions extends ExchangeFlags {
  request: string;
  manifest?: string;
}

/** The case as printed: everything but the sealed tokens, which `status --manifest` shows verified. */
function summary(c: ReadmissionCase): Record<string, unknown> {
  const { sealedRequest: _r, sealedResponse, ...rest } = c;
  return { ...rest, answered: sealedResponse !== '' };
}

async function call(
  io: CliIo,
  flags: ExchangeFlags,
  run: (client: Awaited<ReturnType<typeof openExchange>>) => Promise<ReadmissionCase>,
  show: (c: ReadmissionCase) => Promise<void>,
): Promise<number> {
  const client = await openExchange(flags);
  try {
    const c = await run(client);
    await show(c);
    await write(
      io.stderr,
      `request ${c.requestId}: ${c.state}${c.duplicate ? ' (unchanged)' : ''}, deadline ${c.deadline ?? '-'}\n`,
    );
    return 0;
  } catch (e) {
    return await reportCallError(io, e);
  } finally {
    client.close();
  }
}

/** `wbx readmission submit`: validates and seals a readmission.request with your key, hands it over. */
export async function submitCommand(io: CliIo, o: SubmitOptions): Promise<number> {
  const key = await loadPrivateKeyFile(o.sealKey);
  let input: unknown;
  try {
    input = JSON.parse(await readFile(o.file, 'utf8'));
  } catch (e) {
    throw new CliError('IO', `--file: cannot read a JSON event from ${o.file}: ${(e as Error).message}`);
  }
  const now = io.now();
  const r = validateEvent(input, { now });
  if (!r.ok) {
    for (const v of r.violations) await write(io.stderr, `wbx: ${v.code}: ${v.path}: ${v.message}\n`);
    return 1;
  }
  if (r.event.type !== 'readmission.request' || r.event.origin !== key.partner) {
    throw new CliError(
      'INVALID_INPUT',
      `--file: must be a readmission.request of ${key.partner} (the key's partner)`,
    );
  }
  const notKept = await keep(io, o, r.event);
  if (notKept !== undefined) return notKept;
  const sealed = createSealer({ issuer: key.partner, kid: key.kid, privateKey: key.privateKey }).seal(
    r.event,
    { now },
  );
  return call(
    io,
    o,
    (client) =>
      unary<ReadmissionCase>((cb) =>
        client.submitReadmissionRequest(
          { agreementId: o.agreement, purpose: PURPOSE, sealedRequest: sealed },
          cb,
        ),
      ),
    (c) => write(io.stdout, `${JSON.stringify(summary(c))}\n`),
  );
}

/** `wbx readmission answer`: the requested state answers on its own gateway. */
export async function answerCommand(io: CliIo, o: AnswerOptions): Promise<number> {
  return call(
    io,
    o,
    (client) =>
      unary<ReadmissionCase>((cb) =>
        client.answerReadmissionRequest(
          {
            agreementId: o.agreement,
            purpose: PURPOSE,
            requestId: o.request,
            outcome: o.outcome,
            reason: o.reason ?? '',
          },
          cb,
        ),
      ),
    (c) => write(io.stdout, `${JSON.stringify(summary(c))}\n`),
  );
}

/** `wbx readmission status`: the case; with `--manifest`, the sealed request and answer verified. */
export async function statusCommand(io: CliIo, o: StatusOptions): Promise<number> {
  const manifest = o.manifest === undefined ? undefined : await loadTrustedManifest(o.manifest);
  const verified = (token: string): unknown => {
    if (manifest === undefined || token === '') return undefined;
    try {
      return verifyPresentation(token, { manifest, now: io.now() }).claims;
    } catch (e) {
      if (e instanceof SealError) return { error: e.code };
      throw e;
    }
  };
  return call(
    io,
    o,
    (client) =>
      unary<ReadmissionCase>((cb) =>
        client.getReadmissionRequest(
          { agreementId: o.agreement, purpose: PURPOSE, requestId: o.request },
          cb,
        ),
      ),
    (c) =>
      write(
        io.stdout,
        `${JSON.stringify({ ...summary(c), ...(manifest === undefined ? {} : { request: verified(c.sealedRequest), response: verified(c.sealedResponse) }) })}\n`,
      ),
  );
}

export function registerReadmissionCommands(program: Command, io: CliIo, result: { exitCode: number }): void {
  const group = program
    .command('readmission')
    .description('the readmission workflow between two states under an agreement (mTLS)');
  exchangeFlags(
    group
      .command('submit')
      .description("seal a readmission.request with your key and hand it to the requested state's gateway"),
  )
    .requiredOption('--seal-key <file>', 'your partner private JWK (wbx keys generate)')
    .requiredOption('--file <file>', 'the readmission.request event, JSON')
    .option(
      '--keep-at <host:port>',
      `your own gateway's Ingest: keep the request in your ${EVENTS_STREAM} first`,
    )
    .option('--keep-insecure', 'plaintext to --keep-at (loopback only)')
    .option('--keep-tls-ca <file>', "CA of your gateway's Ingest certificate")
    .option('--keep-cert <file>', 'client certificate for your Ingest (mTLS)')
    .option('--keep-key <file>', "that certificate's key")
    .action(async (opts: SubmitOptions) => {
      result.exitCode = await submitCommand(io, opts);
    });
  exchangeFlags(
    group.command('answer').description('answer a request made of your state, on your own gateway'),
  )
    .requiredOption('--request <id>', "the request's event id")
    .requiredOption('--outcome <outcome>', 'accepted or rejected')
    .option(
      '--reason <reason>',
      'with rejected: insufficient-evidence, not-national, already-returned or other',
    )
    .action(async (opts: AnswerOptions) => {
      result.exitCode = await answerCommand(io, opts);
    });
  exchangeFlags(group.command('status').description('show a request: its state, deadline and answer'))
    .requiredOption('--request <id>', "the request's event id")
    .option('--manifest <file>', 'verify the sealed request and answer and show their claims')
    .action(async (opts: StatusOptions) => {
      result.exitCode = await statusCommand(io, opts);
    });
}
