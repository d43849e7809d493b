import { readFile } from 'node:fs/promises';

import type { sendUnaryData, ServerUnaryCall, ServerWritableStream } from '@grpc/grpc-js';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { READMISSION_PURPOSE, type Purpose } from '@wbx/agreements';
import {
  ExchangeService,
  FederationService,
  type AgreementDocument,
  type AgreementSummary,
  type ExchangeServer,
  type FederationServer,
  type QueryRequest,
  type QueryResponse,
} from '@wbx/proto';
import type { ManifestBody } from '@wbx/registry';

import type { LoadedAgreement } from '../agreement-set.js';
import type { GatewayConfig } from '../config.js';
import type { GuardContext } from '../connection-guard.js';
import { serveGrpc, type StartedGrpcServer } from '../grpc-listener.js';
import type { IngestPipeline } from '../ingest-pipeline.js';
import { authorize, callerOf, type CallerRole, type ExchangeContext, type PeerCall } from './access.js';
import { ExchangeError } from './errors.js';
import { checkRefs, MatchIndex, RateLimiter, runMatch } from './match.js';
import type { Pseudonyms } from './pseudonyms.js';
import { planQuery, runQuery } from './query.js';
import type { RecordChanges } from '../record-changes.js';
import { Readmissions } from './readmission.js';
import { settle, type CallScope } from './refusals.js';

export interface ExchangeDeps {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly readmissionKv: KV;
  /** The Match index's bucket (`wbx_match`). */
  readonly matchKv: KV;
  readonly pipeline: IngestPipeline;
  readonly pseudonyms: Pseudonyms;
  /** Corrections and withdrawals: Query and Match answer with the current version of each event. */
  readonly changes?: RecordChanges;
  /** The signed manifest document as this gateway trusts it now (for Federation.GetManifest). */
  readonly manifestJson: () => string;
}

type ExchangeConfig = NonNullable<GatewayConfig['exchange']>;

interface Named {
  readonly agreementId: string;
  readonly purpose: string;
}

function summary(a: LoadedAgreement): AgreementSummary {
  const b = a.body;
  return {
    id: b.id,
    provider: b.provider,
    recipient: b.recipient,
    purposes: [...b.purposes],
    validFrom: b.validFrom,
    validUntil: b.validUntil,
  };
}

/** The Exchange handlers: identify, authorize (auditing refusals), then do the work. */
function exchangeServer(ctx: ExchangeContext, deps: ExchangeDeps, config: ExchangeConfig): ExchangeServer {
  const index = new MatchIndex(
    deps.js,
    deps.jsm,
    deps.matchKv,
    deps.pseudonyms,
    () => ctx.agreements().filter((a) => a.body.provider === ctx.partner),
    deps.changes,
  );
  // Built in the background from the start, so that the first Match does not wait for it.
  index
    .update()
    .catch((e: unknown) =>
      ctx.log.warn({ err: e }, 'building the match index failed; the first match retries'),
    );
  const limiter = new RateLimiter(config.matchRate, config.matchBurst);
  const readmissions = new Readmissions(ctx, {
    kv: deps.readmissionKv,
    jsm: deps.jsm,
    pipeline: deps.pipeline,
  });

  /** The caller: the member whose manifest entry pins the client certificate (the scope records it). */
  function identify(scope: CallScope, call: PeerCall): string {
    scope.caller = callerOf(call, ctx.manifest());
    return scope.caller;
  }

  /** Identifies the caller and authorizes the named agreement and purpose (`settle` audits a refusal). */
  function admit(
    scope: CallScope,
    call: PeerCall,
    req: Named,
    role: CallerRole,
    only?: Purpose,
  ): { caller: string; agreement: LoadedAgreement; purpose: Purpose } {
    scope.agreementId = req.agreementId;
    scope.purpose = req.purpose;
    const caller = identify(scope, call);
    const admitted = authorize(ctx, caller, req.agreementId, req.purpose, role);
    if (only !== undefined && admitted.purpose !== only) {
      const detail = `${scope.rpc} under purpose ${admitted.purpose}`;
      throw new ExchangeError('PURPOSE_NOT_AGREED', `this call is for the purpose ${only}`, detail);
    }
    return { caller, ...admitted };
  }

  /** A unary handler: its failure is settled (a denial audited, every error a status) by `settle`. */
  function unary<Req extends object, Res>(
    rpc: string,
    work: (call: ServerUnaryCall<Req, Res>, scope: CallScope) => Res | Promise<Res>,
  ) {
    return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
      void settle(ctx, rpc, call, (scope) => work(call, scope)).then((r) =>
        r.ok ? callback(null, r.value) : callback(r.error),
      );
    };
  }

  return {
    query(call: ServerWritableStream<QueryRequest, QueryResponse>): void {
      let cancelled = false;
      call.on('cancelled', () => {
        cancelled = true;
      });
      const sink = {
        get cancelled() {
          return cancelled;
        },
        write: async (message: QueryResponse): Promise<void> => {
          if (call.write(message) || cancelled) return;
          // Until the client takes more, or goes away (no 'drain' comes after a cancel).
          await new Promise<void>((resolve) => {
            const done = (): void => {
              call.off('drain', done).off('cancelled', done).off('close', done);
              resolve();
            };
            call.on('drain', done).on('cancelled', done).on('close', done);
          });
        },
      };
      void settle(ctx, 'query', call, async (scope) => {
        const req = call.request;
        const { caller, agreement, purpose } = admit(scope, call, req, 'recipient');
        await runQuery(ctx, deps, caller, agreement, purpose, planQuery(req, agreement), sink);
      }).then((r) => {
        if (cancelled) return;
        // A server stream ends with an error status through its 'error' event (grpc-js sends it then).
        if (r.ok) call.end();
        else call.emit('error', r.error);
      });
    },

    match: unary('match', (call, scope) => {
      const { caller, agreement, purpose } = admit(scope, call, call.request, 'recipient');
      const wait = limiter.take(caller, Date.now());
      if (wait !== undefined) {
        ctx.log.warn({ caller, waitMs: wait }, 'match request over the rate limit');
        throw new ExchangeError('RATE_LIMITED', `too many match requests; retry in ${wait} ms`);
      }
      checkRefs(call.request, config.matchMaxRefs);
      return runMatch(ctx, index, caller, agreement, purpose, call.request);
    }),

    listAgreements: unary('listAgreements', (call, scope) => {
      const caller = identify(scope, call);
      const mine = ctx.agreements().filter((a) => a.body.provider === caller || a.body.recipient === caller);
      return { agreements: mine.map(summary) };
    }),

    getAgreement: unary('getAgreement', async (call, scope): Promise<AgreementDocument> => {
      const caller = identify(scope, call);
      const a = ctx
        .agreements()
        .find(
          (x) =>
            x.body.id === call.request.agreementId &&
            (x.body.provider === caller || x.body.recipient === caller),
        );
      if (a === undefined)
        throw new ExchangeError(
          'UNKNOWN_AGREEMENT',
          'no such agreement between you and this partner',
          `getAgreement ${call.request.agreementId} by ${caller}`,
        );
      return { summary: summary(a), documentJson: await readFile(a.file, 'utf8') };
    }),

    submitReadmissionRequest: unary('readmission', (call, scope) => {
      const { caller, agreement } = admit(
        scope,
        call,
        { ...call.request, purpose: readmissionPurpose(call.request.purpose) },
        'party',
        READMISSION_PURPOSE,
      );
      return readmissions.submit(caller, agreement, call.request.sealedRequest);
    }),

    getReadmissionRequest: unary('readmission', (call, scope) => {
      const role = identify(scope, call) === ctx.partner ? 'self' : 'party';
      const { caller, agreement } = admit(
        scope,
        call,
        { ...call.request, purpose: readmissionPurpose(call.request.purpose) },
        role,
        READMISSION_PURPOSE,
      );
      return readmissions.get(caller, agreement, call.request.requestId);
    }),

    answerReadmissionRequest: unary('readmission', (call, scope) => {
      const { caller, agreement } = admit(
        scope,
        call,
        { ...call.request, purpose: readmissionPurpose(call.request.purpose) },
        'self',
        READMISSION_PURPOSE,
      );
      const r = call.request;
      return readmissions.answer(caller, agreement, r.requestId, r.outcome, r.reason);
    }),
  };
}

/** Readmission calls are for return-readmission only: an empty purpose means it. */
function readmissionPurpose(purpose: string): string {
  return purpose === '' ? READMISSION_PURPOSE : purpose;
}

function federationServer(manifest: () => ManifestBody, manifestJson: () => string): FederationServer {
  return {
    getManifest(_call, callback): void {
      callback(null, { version: manifest().version, manifestJson: manifestJson() });
    },
    jwks(call, callback): void {
      const keys = manifest()
        .members.filter((m) => call.request.member === '' || m.id === call.request.member)
        .flatMap((m) =>
          m.signingKeys.map((k) => ({
            ...k.jwk,
            kid: k.kid,
            use: 'sig',
            alg: 'EdDSA',
            wbx_member: m.id,
            nbf: Math.floor(Date.parse(k.notBefore) / 1000),
            ...(k.notAfter === undefined ? {} : { exp: Math.floor(Date.parse(k.notAfter) / 1000) }),
            ...(k.revokedAt === undefined ? {} : { revoked_at: k.revokedAt }),
          })),
        );
      callback(null, { jwksJson: JSON.stringify({ keys }) });
    },
  };
}

export type StartedExchange = StartedGrpcServer;

/** The partner-facing gRPC server: Exchange and Federation over mutual TLS, with health and reflection. */
export function startExchangeServer(
  config: ExchangeConfig,
  ctx: ExchangeContext,
  deps: ExchangeDeps,
  guard: GuardContext,
): Promise<StartedExchange> {
  return serveGrpc({
    services: (server) => {
      server.addService(ExchangeService, exchangeServer(ctx, deps, config));
      server.addService(FederationService, federationServer(ctx.manifest, deps.manifestJson));
    },
    health: { '': 'SERVING', 'wbx.v1.Exchange': 'SERVING', 'wbx.v1.Federation': 'SERVING' },
    protoFiles: ['wbx/v1/exchange.proto', 'wbx/v1/federation.proto'],
    tls: config.tls,
    listen: config.listen,
    section: 'exchange',
    listener: 'exchange',
    guard,
  });
}
