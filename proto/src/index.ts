export { Event, RecordCorrection, RecordWithdrawal } from './gen/wbx/v1/event.js';
export { GeoPoint, Person } from './gen/wbx/v1/common.js';
export {
  AggregateCell,
  AssessmentRoute,
  AsylumApplication,
  AsylumDecision,
  CrossingIrregular,
  DocumentFraud,
  EntryRefusal,
  ReadmissionRequest,
  ReadmissionResponse,
  ReceptionCapacity,
  ResidenceHumanitarian,
  ReturnDecision,
  ReturnExecuted,
  SmugglingIncident,
  StatsAggregate,
  StayIllegal,
  TraffickingVictim,
} from './gen/wbx/v1/bodies.js';
export {
  IngestClient,
  IngestService,
  Receipt,
  Rejection,
  SubmitResult,
  Violation as ViolationMessage,
  type IngestServer,
} from './gen/wbx/v1/ingest.js';
export { Status } from './gen/google/rpc/status.js';
export { BadRequest, BadRequest_FieldViolation, ErrorInfo } from './gen/google/rpc/error_details.js';
export { Any } from './gen/google/protobuf/any.js';
export { protoDir } from './proto-dir.js';
export {
  AgreementDocument,
  AgreementSummary,
  AnswerReadmissionRequestRequest,
  ExchangeClient,
  ExchangeService,
  GetAgreementRequest,
  GetReadmissionRequestRequest,
  ListAgreementsRequest,
  ListAgreementsResponse,
  MatchedEvent,
  MatchHit,
  MatchRequest,
  MatchResponse,
  QueryEnd,
  QueryEvent,
  QueryRequest,
  QueryResponse,
  ReadmissionCase,
  SubmitReadmissionRequestRequest,
  WhereValues,
  type ExchangeServer,
} from './gen/wbx/v1/exchange.js';
export {
  FederationClient,
  FederationService,
  GetManifestRequest,
  GetManifestResponse,
  JwksRequest,
  JwksResponse,
  type FederationServer,
} from './gen/wbx/v1/federation.js';
export { decodeStrict, MalformedMessageError, type MessageDecoder } from './decode-strict.js';
