export {
  parseAgreementBody,
  type AgreementBody,
  type AggregateTerm,
  type Period,
  type RecordsTerm,
  type Term,
  type Where,
  type WhereValue,
} from './body.js';
export {
  AgreementError,
  type AgreementErrorCode,
  type AgreementErrorOptions,
  type AgreementIssue,
  type AgreementIssueCode,
} from './errors.js';
export {
  decodeAgreement,
  decodeRevocation,
  draftAgreement,
  parseSignedAgreement,
  signatureKids,
  signatureParties,
  type AgreementSignature,
  type RevocationBody,
  type SignedAgreement,
  type SignedRevocation,
} from './document.js';
export { parseAgreementYaml } from './yaml.js';
export { matchesWhere } from './internal/where.js';
export { draftAndSign, signAgreement, type AgreementSigner } from './sign.js';
export { revokeAgreement, type RevokeOptions } from './revoke.js';
export { agreementStatus, type AgreementStatus, type StatusReasonCode } from './status.js';
export {
  disclosurePaths,
  evaluate,
  grantUnder,
  inForce,
  type ActiveAgreement,
  type AggregateGrant,
  type PolicyEvent,
  type RecipientGrant,
} from './policy.js';
export { partnerPolicy, type PartnerPolicy, type RecipientRetention } from './partner-policy.js';
export {
  AGGREGATE_CLAIMS,
  AGGREGATE_TYPE,
  checkReceived,
  type ReceivedPresentation,
  type ReceiveRefusalCode,
  type ReceiveVerdict,
} from './receive.js';
export {
  addKey,
  aggregate,
  cellKeyNoise,
  controlOf,
  MISSING_VALUE,
  roundCount,
  suppressCells,
  type AggregateCell,
  type CellControl,
  type StatsAggregateBody,
} from './aggregate.js';
export {
  protectCells,
  protectTable,
  type LinkedTable,
  type ProtectedCell,
  type ProtectedTable,
} from './secondary-suppression.js';
export {
  basisOf,
  firstVintage,
  reviseVintage,
  type AggregateVintage,
  type CountedCell,
  type RevisedVintage,
} from './vintage.js';
export { periodBounds, periodOf, type PeriodBounds } from './period.js';
export {
  CATEGORICAL_FIELDS,
  isDimension,
  isRecordPath,
  isWhereField,
  PERSON_DIMENSIONS,
  recordPaths,
} from './paths.js';
export {
  isPurpose,
  PURPOSES,
  READMISSION_PURPOSE,
  SPECIAL_CATEGORY_PURPOSE,
  SPECIAL_CATEGORY_TYPES,
  type Purpose,
} from './purposes.js';
export { AGREEMENT_TYP, JWS_ALG, REVOCATION_TYP } from './internal/header.js';
export { SIGNATURE_IAT_SKEW_S } from './internal/jws-verify.js';
export {
  AGREEMENT_ID_RE,
  ANSWER_WITHIN_HOURS_MAX,
  MIN_CELL_DEFAULT,
  MIN_CELL_FLOOR,
  RETENTION_DAYS_MAX,
} from './internal/body-schema.js';
