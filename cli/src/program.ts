import { EVENTS_STREAM, INBOX_STREAM, shareStream } from '@wbx/gateway';
import { Command, CommanderError, Option } from 'commander';

import { demoCommand } from './demo.js';
import { CliError, exitStatus } from './errors.js';
import { gatewayCommand, type GatewayCommandOptions } from './gateway.js';
import { generateCommand, type GenerateCommandOptions } from './generate.js';
import { ingestCommand, type IngestCommandOptions } from './ingest.js';
import { reportError, type CliIo } from './io.js';
import { registerAgreementCommands } from './agreement.js';
import { registerAnalyticsCommands } from './analytics.js';
import { registerAuditCommands } from './audit.js';
import { registerExchangeCommands } from './exchange.js';
import { registerReadmissionCommands } from './readmission.js';
import { correctCommand, withdrawCommand, type RecordChangeOptions } from './record-change.js';
import { registerKeysCommands } from './keys.js';
import { registerManifestCommands } from './manifest.js';
import { registerNatsConfigCommand } from './nats-config.js';
import { discloseCommand, sealCommand, verifyCommand } from './seal.js';
import { tailCommand, type TailCommandOptions } from './tail.js';
import { validateCommand, type ValidateCommandOptions } from './validate.js';

/** Builds the `wbx` command tree. Actions store their exit status in `result.exitCode`. */
function createProgram(io: CliIo, result: { exitCode: number }): Command {
  const program = new Command('wbx')
    .description('WBX — Western Balkans eXchange: migration data federation node and tools')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      // Commander's own errors ("error: unknown option …") in the form of every other: wbx: USAGE: ….
      outputError: (s, write) => write(`wbx: USAGE: ${s.replace(/^error: /, '')}`),
    })
    .showHelpAfterError('(run wbx --help for usage)');

  program
    .command('generate')
    .description(
      'write synthetic NDJSON events (proto3 JSON of wbx.v1.Event), identical for identical arguments',
    )
    .requiredOption('--partner <code>', 'origin partner code, e.g. MK')
    .option('--count <n>', 'number of events', '1000')
    .option('--seed <seed>', 'random seed', 'wbx')
    .option('--from <date>', 'window start, YYYY-MM-DD or ISO timestamp (default 2023-09-01)')
    .option('--to <date>', 'window end, exclusive (default: --from + 1 day)')
    .option('--out <file>', 'write to this file instead of stdout')
    .action(async (opts: GenerateCommandOptions) => {
      result.exitCode = await generateCommand(io, opts);
    });

  program
    .command('validate')
    .description(
      'validate NDJSON events; report every violation as line, path and code; exit 0 only if all are valid',
    )
    .option('--file <file>', 'read this file instead of stdin')
    .option('--json', 'report violations as JSON lines')
    .action(async (opts: ValidateCommandOptions) => {
      result.exitCode = await validateCommand(io, opts);
    });

  program
    .command('seal')
    .description('validate NDJSON events and seal each as an SD-JWT (one token per line)')
    .requiredOption('--key <file>', "the partner's private JWK (from wbx keys generate)")
    .option('--file <file>', 'read this file instead of stdin')
    .action(async (opts: { key: string; file?: string }) => {
      result.exitCode = await sealCommand(io, opts);
    });

  program
    .command('disclose')
    .description('keep only the listed fields of each SD-JWT line (presentations out); nothing is re-signed')
    .requiredOption('--fields <paths>', 'comma-separated paths, e.g. routeSegment,persons.citizenship')
    .option('--file <file>', 'read this file instead of stdin')
    .action(async (opts: { fields: string; file?: string }) => {
      result.exitCode = await discloseCommand(io, opts);
    });

  program
    .command('verify')
    .description(
      'verify SD-JWT lines against the federation manifest; one JSON object of claims per valid line',
    )
    .requiredOption('--manifest <file>', 'the signed federation manifest')
    .option('--file <file>', 'read this file instead of stdin')
    .action(async (opts: { manifest: string; file?: string }) => {
      result.exitCode = await verifyCommand(io, opts);
    });

  program
    .command('gateway')
    .description("run this partner's gateway node (Ingest over gRPC, sealing, JetStream) until SIGTERM")
    .option(
      '--config <file>',
      'YAML or JSON configuration; every setting can also be set as WBX_… in the environment',
    )
    .option('--partner <code>', 'partner code (partner)')
    .option('--key <file>', "the partner's private JWK (key)")
    .option('--manifest <file>', 'the signed federation manifest (manifest)')
    .option('--data <dir>', 'data directory, holds the embedded nats-server store (data)')
    .option('--nats <url>', 'external NATS; without it the gateway runs its own nats-server (nats.url)')
    .option('--grpc-listen <host:port>', 'gRPC address (grpc.listen, default 127.0.0.1:7443)')
    .option('--http-listen <host:port>', 'health and metrics address (http.listen, default 127.0.0.1:9464)')
    .option('--insecure', 'plaintext gRPC, loopback only (grpc.insecure)')
    .option('--tls-cert <file>', 'server certificate, PEM (grpc.tls.cert)')
    .option('--tls-key <file>', 'server key, PEM (grpc.tls.key)')
    .option('--tls-client-ca <file>', 'CA for client certificates: requires mTLS (grpc.tls.clientCa)')
    .action(async (opts: GatewayCommandOptions) => {
      result.exitCode = await gatewayCommand(io, opts);
    });

  program
    .command('ingest')
    .description(
      'stream an NDJSON file of events to a gateway (Ingest.SubmitStream); rejected lines go to a rejects file',
    )
    .requiredOption('--gateway <host:port>', "the gateway's gRPC address")
    .requiredOption('--file <file>', 'NDJSON events (proto3 JSON of wbx.v1.Event); - for stdin')
    .option('--rejects <file>', 'where rejected lines are written (default: <file>.rejects.ndjson)')
    .option('--insecure', 'plaintext gRPC, to a loopback address only')
    .option('--tls-ca <file>', 'CA certificate(s) to trust, PEM (default: the system roots)')
    .option('--cert <file>', 'client certificate for mTLS, PEM')
    .option('--key <file>', 'client private key for mTLS, PEM')
    .option('--connect-timeout <duration>', 'give up connecting after this long', '10s')
    .option('--idle-timeout <duration>', 'give up when the gateway answers nothing for this long', '30s')
    .action(async (opts: IngestCommandOptions) => {
      result.exitCode = await ingestCommand(io, opts);
    });

  for (const [name, description, run] of [
    ['correct', 'correct an event this partner sealed (record.correction, through Ingest)', correctCommand],
    [
      'withdraw',
      'withdraw an event this partner sealed (record.withdrawal, through Ingest)',
      withdrawCommand,
    ],
  ] as const) {
    const command = program
      .command(name)
      .description(`${description}; it follows the event to every recipient that received it`)
      .requiredOption('--gateway <host:port>', "the gateway's gRPC address")
      .requiredOption('--event <id>', 'the event id to ' + name)
      .requiredOption('--reason <code>', 'why (a reason code; see the README)');
    if (name === 'correct') command.requiredOption('--file <file>', 'the corrected event (proto3 JSON)');
    command
      .option('--origin <code>', "this partner's code (correct: default, the corrected event's origin)")
      .option('--insecure', 'plaintext gRPC, to a loopback address only')
      .option('--tls-ca <file>', 'CA certificate(s) to trust, PEM (default: the system roots)')
      .option('--cert <file>', 'client certificate for mTLS, PEM')
      .option('--key <file>', 'client private key for mTLS, PEM')
      .option('--connect-timeout <duration>', 'give up connecting after this long', '10s')
      .action(async (opts: RecordChangeOptions) => {
        result.exitCode = await run(io, opts);
      });
  }

  program
    .command('tail')
    .description(
      'print the events of a WBX stream that verify against the manifest (claims plus seq), one JSON per line',
    )
    .requiredOption('--nats <url>', 'the NATS server holding the stream')
    .requiredOption('--manifest <file>', 'the signed federation manifest')
    .option('--nkey <file>', 'nkey seed file to authenticate with (e.g. <data>/nats-access/gateway.nkey)')
    .option('--stream <name>', `${EVENTS_STREAM}, ${INBOX_STREAM} or ${shareStream('<R>')}`, EVENTS_STREAM)
    .option('--type <type>', 'only events of this type, e.g. crossing.irregular')
    .option('--from-seq <n>', 'start at this stream sequence (default: the first message)')
    .option('--count <n>', 'stop after this many verified events (default: run until SIGINT)')
    .action(async (opts: TailCommandOptions) => {
      result.exitCode = await tailCommand(io, opts);
    });

  registerKeysCommands(program, io, result);
  registerManifestCommands(program, io, result);
  registerAgreementCommands(program, io, result);
  registerAuditCommands(program, io, result);
  registerNatsConfigCommand(program, io, result);
  registerExchangeCommands(program, io, result);
  registerReadmissionCommands(program, io, result);
  registerAnalyticsCommands(program, io, result);

  program
    .command('demo')
    .description('run the end-to-end demonstration on this machine')
    .addOption(new Option('--seed <seed>', 'random seed').default('wbx-demo'))
    .option('--serve', 'keep serving the analytics dashboard at the end until Ctrl-C')
    .action(async (opts: { seed: string; serve?: boolean }) => {
      result.exitCode = await demoCommand(io, opts);
    });

  return program;
}

/**
 * Runs `wbx` with the given arguments (without the node and script paths); resolves to the exit status.
 * A command's CliError is printed as `wbx: <CODE>: <message>` and ends it with the status of its code
 * ({@link exitStatus}); a command line commander refuses is a USAGE error.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const result = { exitCode: 0 };
  const program = createProgram(io, result);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return result.exitCode;
  } catch (e) {
    // --help and --version end with exit code 0; commander has printed its error already.
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : exitStatus('USAGE');
    if (e instanceof CliError) return reportError(io, e.code, e.message);
    throw e;
  }
}
