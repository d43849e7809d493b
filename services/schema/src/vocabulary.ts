/**
 * The closed vocabularies of the event catalogue (DESIGN.md, Event catalogue). Values are stable
 * wire strings: adding one is a schema change, renaming one is a breaking change.
 */
export const SEXES = ['F', 'M', 'X', 'U'] as const;
export const AGE_BANDS = ['0-13', '14-17', '18-34', '35-64', '65+', 'unknown'] as const;
/** Age bands of minors: an unaccompanied minor must be in one of these (or unknown). */
export const MINOR_AGE_BANDS: readonly string[] = ['0-13', '14-17'];

export const DIRECTIONS = ['entry', 'exit'] as const;
export const DETECTION_METHODS = [
  'patrol',
  'surveillance',
  'checkpoint',
  'tip-off',
  'inland-check',
  'other',
] as const;
export const MODI_OPERANDI = [
  'on-foot-guided',
  'vehicle-concealment',
  'vehicle-open',
  'train',
  'boat',
  'document-fraud',
  'other',
] as const;
export const VEHICLE_TYPES = ['car', 'van', 'truck', 'bus', 'train', 'boat', 'other'] as const;
export const EXPLOITATION_TYPES = [
  'sexual',
  'labour',
  'forced-criminality',
  'begging',
  'forced-marriage',
  'other',
] as const;
export const IDENTIFIED_BY = [
  'police',
  'border-police',
  'ngo',
  'social-services',
  'labour-inspection',
  'other',
] as const;
export const DECISION_INSTANCES = ['first', 'appeal'] as const;
export const DECISION_OUTCOMES = [
  'refugee',
  'subsidiary',
  'humanitarian',
  'rejected',
  'discontinued',
] as const;
export const PERMIT_TYPES = [
  'temporary-humanitarian',
  'temporary-protection',
  'stateless',
  'victim-of-trafficking',
  'other',
] as const;
export const RETURN_TYPES = ['voluntary', 'assisted-voluntary', 'forced'] as const;
export const EVIDENCE_TYPES = [
  'travel-document-copy',
  'entry-stamp',
  'transport-ticket',
  'witness-statement',
  'apprehension-report',
  'fingerprint-hit',
  'other',
] as const;
export const READMISSION_OUTCOMES = ['accepted', 'rejected', 'expired'] as const;
export const READMISSION_REJECTION_REASONS = [
  'insufficient-evidence',
  'not-national',
  'already-returned',
  'other',
] as const;
export const FACILITY_TYPES = [
  'asylum-centre',
  'reception-transit-centre',
  'temporary-reception',
  'detention',
  'other',
] as const;
export const RISK_LEVELS = ['low', 'medium', 'high', 'critical'] as const;
export const RISK_INDICATORS = [
  'increased-detections',
  'decreased-detections',
  'new-modus-operandi',
  'route-shift',
  'violence-against-migrants',
  'document-fraud',
  'vulnerable-groups',
  'facilitator-network',
  'other',
] as const;

/** Where an irregular crossing was made (Frontex FRAN 1A between, 1B at border crossing points). */
export const CROSSING_POINTS = ['between-bcp', 'at-bcp'] as const;
/** Border types of Eurostat's refusals of entry (migr_eirfs BORDER: land, sea, air). */
export const BORDER_TYPES = ['land', 'sea', 'air'] as const;
/**
 * Grounds for refusal of entry: Schengen Borders Code (Regulation (EU) 2016/399) Annex V Part B, points
 * A to I in order (docs/eurostat-crosswalk.md).
 */
export const REFUSAL_GROUNDS = [
  'no-valid-document',
  'false-document',
  'no-valid-visa',
  'false-visa',
  'no-purpose-justification',
  'overstay-90-180',
  'insufficient-means',
  'entry-ban-alert',
  'public-threat',
] as const;
/** Where an illegal stay was detected (FRAN indicator 3: inland or on exit). */
export const STAY_DETECTED_ON = ['inland', 'exit'] as const;
/** How a stay became illegal. */
export const STAY_BASES = ['irregular-entry', 'overstay', 'unknown'] as const;
/** Kinds of fraudulent document (FRAN indicator 6). */
export const DOCUMENT_TYPES = ['passport', 'id-card', 'visa', 'residence-permit', 'stamp', 'other'] as const;
/** Types of document fraud (Frontex / EDF-RAN terms). */
export const FRAUD_TYPES = [
  'counterfeit',
  'forged',
  'fraudulently-obtained',
  'impostor',
  'pseudo-document',
  'stolen-blank',
  'other',
] as const;
/** Documents that identify a holder: the only ones an impostor (a look-alike) can use. */
export const PERSONAL_DOCUMENT_TYPES: readonly string[] = ['passport', 'id-card', 'residence-permit', 'visa'];
