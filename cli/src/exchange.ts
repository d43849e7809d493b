import { readFile } from 'node:fs/promises';

import type { MatchResponse, WhereValues } from '@wbx/proto';
import type { ManifestBody } from '@wbx/registry';
import { SealError, verifyPresentation } from '@wbx/seal';
import type { Command } from 'commander';

import { parseCliDate } from './dates.js';
import { CliError } from './errors.js';
import { openExchange, queryPage, reportCallError, unary, type ExchangeFlags } from './exchange-client.js';
import { write, type CliIo } from './io.js';
import { loadTrustedManifest } from './seal.js';

export interface QueryOptions extends ExchangeFlags {
  purpose: string;
  type?: string[];
  from?: string;
  to?: string;
  where?: string[];
  pageSize?: string;
  resume?: string;
  limit?: string;
  manifest?: string;
}

export interface MatchOptions extends ExchangeFlags {
  purpose: string;
  ref?: string[];
  refsFile?: string;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function count(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1)
    throw new CliError('USAGE', `${flag}: "${text}" is not a positive whole number`);
  return n;
}

function parseWhere(items: readonly string[]): Record<string, WhereValues> {
  const out: Record<string, WhereValues> = {};
  for (const item of items) {
    const m = /^([A-Za-z][A-Za-z0-9.]*)=(.+)$/.exec(item);
    if (m?.[1] === undefined || m[2] === undefined)
      throw new CliError('USAGE', `--where: "${item}" must be field=value[,value…]`);
    out[m[1]] = { values: m[2].split(',') };
  }
  return out;
}

/**
 * `wbx query`: history from a partner's gateway under an agreement, page after page until done (or
 * `--limit`); one JSON line per event (its presentation, or with `--manifest` its verified claims).
 */
export async function queryCommand(io: CliIo, o: QueryOptions): Promise<number> {
  const manifest: ManifestBody | undefined =
    o.manifest === undefined ? undefined : await loadTrustedManifest(o.manifest);
  const limit = count('--limit', o.limit, Number.MAX_SAFE_INTEGER);
  const pageSize = count('--page-size', o.pageSize, 10_000);
  const request = {
    agreementId: o.agreement,
    purpose: o.purpose,
    types: o.type ?? [],
    ...(o.from === undefined ? {} : { from: parseCliDate('--from', o.from).toISOString() }),
    ...(o.to === undefined ? {} : { to: parseCliDate('--to', o.to).toISOString() }),
    where: parseWhere(o.where ?? []),
    pageSize: Math.min(pageSize, limit),
    resumeToken: o.resume ?? '',
  };
  const client = await openExchange(o);
  let n = 0;
  let bad = 0;
  try {
    for (;;) {
      const end = await queryPage(client, request, async (e) => {
        if (manifest === undefined) {
          await write(
            io.stdout,
            `${JSON.stringify({ eventId: e.eventId, type: e.type, presentation: e.presentation, subjectRefs: e.subjectRefs })}\n`,
          );
        } else {
          try {
            const { claims } = verifyPresentation(e.presentation, { manifest, now: io.now() });
            await write(
              io.stdout,
              `${JSON.stringify({ ...claims, ...(e.subjectRefs.length > 0 ? { subjectRefs: e.subjectRefs } : {}) })}\n`,
            );
          } catch (err) {
            if (!(err instanceof SealError)) throw err;
            bad += 1;
            await write(io.stderr, `wbx: ${err.code}: event ${e.eventId} does not verify: ${err.detail}\n`);
          }
        }
      });
      n += end.returned;
      request.resumeToken = end.resumeToken;
      request.pageSize = Math.min(pageSize, limit - n);
      if (!end.more || request.pageSize <= 0) {
        await write(
          io.stderr,
          `${n} events${end.more ? '; more follow' : ''}; resume token: ${end.resumeToken}\n`,
        );
        return bad > 0 ? 1 : 0;
      }
    }
  } catch (e) {
    if (n > 0)
      await write(io.stderr, `${n} events before the failure; resume token: ${request.resumeToken}\n`);
    return await reportCallError(io, e);
  } finally {
    client.close();
  }
}

/** `wbx match`: hit/no-hit on references keyed for the agreement; prints the hits as JSON. */
export async function matchCommand(io: CliIo, o: MatchOptions): Promise<number> {
  const refs = [...(o.ref ?? [])];
  if (o.refsFile !== undefined) {
    let text: string;
    try {
      text = await readFile(o.refsFile, 'utf8');
    } catch (e) {
      throw new CliError('IO', `--refs-file: cannot read ${o.refsFile}: ${(e as Error).message}`);
    }
    refs.push(
      ...text
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== ''),
    );
  }
  if (refs.length === 0) throw new CliError('USAGE', 'give references with --ref or --refs-file');
  const client = await openExchange(o);
  try {
    const res = await unary<MatchResponse>((cb) =>
      client.match({ agreementId: o.agreement, purpose: o.purpose, subjectRefs: refs }, cb),
    );
    await write(io.stdout, `${JSON.stringify(res)}\n`);
    await write(io.stderr, `${res.checked} references checked, ${res.hits.length} hits\n`);
    return 0;
  } catch (e) {
    return await reportCallError(io, e);
  } finally {
    client.close();
  }
}

/** Adds the connection flags every Exchange command has. */
export function exchangeFlags(cmd: Command): Command {
  return cmd
    .requiredOption('--gateway <host:port>', "the partner gateway's Exchange address")
    .requiredOption('--tls-ca <file>', "CA that signed the gateway's certificate, PEM")
    .requiredOption('--cert <file>', 'your client certificate (pinned in the manifest), PEM')
    .requiredOption('--key <file>', "your client certificate's key, PEM")
    .requiredOption('--agreement <id>', 'the agreement the call is made under');
}

export function registerExchangeCommands(program: Command, io: CliIo, result: { exitCode: number }): void {
  exchangeFlags(
    program
      .command('query')
      .description("query a partner's history under an agreement (mTLS); one JSON line per event"),
  )
    .requiredOption('--purpose <purpose>', 'one of the agreement’s purposes')
    .option('--type <type>', 'event type (repeatable; default: all the agreement covers)', collect)
    .option('--from <date>', 'occurredAt from (YYYY-MM-DD or ISO timestamp)')
    .option('--to <date>', 'occurredAt before')
    .option('--where <field=v1,v2>', 'condition on a disclosed field (repeatable)', collect)
    .option('--page-size <n>', 'events per page', '10000')
    .option('--resume <token>', 'go on after a previous query')
    .option('--limit <n>', 'stop after this many events')
    .option('--manifest <file>', 'verify each presentation and print its claims')
    .action(async (opts: QueryOptions) => {
      result.exitCode = await queryCommand(io, opts);
    });
  exchangeFlags(
    program.command('match').description('hit/no-hit on subject references keyed for the agreement (mTLS)'),
  )
    .requiredOption('--purpose <purpose>', 'one of the agreement’s purposes')
    .option('--ref <hex>', 'a subject reference (repeatable)', collect)
    .option('--refs-file <file>', 'one subject reference per line')
    .action(async (opts: MatchOptions) => {
      result.exitCode = await matchCommand(io, opts);
    });
}
