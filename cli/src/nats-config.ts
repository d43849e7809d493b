import { relative } from 'node:path';

import type { Command } from 'commander';
import { pino } from 'pino';

import { partnerPolicy } from '@wbx/agreements';
import { AgreementsUnavailableError } from '@wbx/gateway';
import { loadAgreements, type LoadedAgreement } from '@wbx/gateway';
import { recipientPermissions } from '@wbx/gateway';
import { writeAccessFiles } from '@wbx/gateway';
import { RevocationStore } from '@wbx/gateway';
import { CliError } from './errors.js';
import { write, type CliIo } from './io.js';
import { loadTrustedManifest } from './seal.js';

interface NatsConfigOptions {
  partner: string;
  manifest: string;
  agreements: string;
  out: string;
  data?: string;
  tlsCert?: string;
  tlsKey?: string;
}

/**
 * `wbx nats-config`: the partner's nats-server access from its active agreements — the gateway's own
 * user, one nkey user per recipient with exactly the least-privilege permissions, no anonymous access —
 * and one credentials (nkey seed) file per recipient to hand over. Re-running keeps handed-over
 * credentials and removes those of recipients without an active agreement.
 *
 * Revocations are permanent, as in the gateway: every valid revocation seen is recorded in
 * `<out>/agreements-state/revoked/` and keeps winning over an unrevoked copy put back into the
 * agreements directory later. `--data <gateway's data directory>` also honours the revocations the
 * gateway has recorded there, and records those seen here for it.
 */
export async function natsConfigCommand(io: CliIo, options: NatsConfigOptions): Promise<number> {
  const manifest = await loadTrustedManifest(options.manifest);
  const now = io.now();
  const log = pino({ level: 'silent' });
  const store = RevocationStore.ofData(
    options.data === undefined ? options.out : [options.out, options.data],
    log,
  );
  let agreements: LoadedAgreement[];
  try {
    agreements = await loadAgreements(options.agreements, manifest, options.partner, now, log, store);
  } catch (e) {
    if (!(e instanceof AgreementsUnavailableError)) throw e;
    // Nothing is written: an unreadable directory must not remove credentials handed over.
    throw new CliError(e, e.message);
  }
  const recipients = partnerPolicy(options.partner, agreements)
    .recipients(now)
    .map((r) => r.recipient);
  const tls =
    options.tlsCert !== undefined && options.tlsKey !== undefined
      ? { cert: options.tlsCert, key: options.tlsKey }
      : undefined;
  // Every other member's account is declared now, so that a later agreement only adds a user (a reload).
  const standby = manifest.members.map((m) => m.id).filter((id) => id !== options.partner);
  const files = await writeAccessFiles(options.out, recipients, tls, { standby });
  await write(
    io.stdout,
    `wrote ${files.configFile} (include it in ${options.partner}'s nats-server configuration)\n`,
  );
  await write(
    io.stdout,
    `gateway user: ${relative(process.cwd(), files.gatewayNkeyFile)} (keep it with the gateway)\n`,
  );
  for (const [r, file] of files.recipientNkeyFiles) {
    const p = recipientPermissions(r);
    await write(
      io.stdout,
      `${r}: hand over ${relative(process.cwd(), file)}; may publish ${p.publish.join(', ')}; subscribe ${p.subscribe.join(', ')}\n`,
    );
  }
  if (recipients.length === 0) await write(io.stdout, 'no active agreement: no recipient has access\n');
  if (tls === undefined)
    await write(io.stderr, 'warning: no --tls-cert/--tls-key: recipients would connect without TLS\n');
  return 0;
}

export function registerNatsConfigCommand(program: Command, io: CliIo, result: { exitCode: number }): void {
  program
    .command('nats-config')
    .description(
      "write the partner's nats-server accounts (one per recipient, its own consumer only) and recipients' credentials",
    )
    .requiredOption('--partner <code>', 'the origin partner')
    .requiredOption('--manifest <file>', 'the signed federation manifest')
    .requiredOption('--agreements <dir>', 'directory of signed agreements')
    .requiredOption('--out <dir>', 'where the configuration and the nkey files go')
    .option(
      '--data <dir>',
      "the gateway's data directory: honour the revocations it recorded, record those seen here",
    )
    .option('--tls-cert <file>', "the NATS server's certificate, PEM")
    .option('--tls-key <file>', "the NATS server's key, PEM")
    .action(async (opts: NatsConfigOptions) => {
      result.exitCode = await natsConfigCommand(io, opts);
    });
}
