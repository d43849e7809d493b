export { generateEvents, type GenerateOptions } from './generate.js';
export { eventToNdjsonLine } from './ndjson-line.js';
export { expectedEventCount } from './volume.js';
export { SynthError, type SynthErrorCode } from './synth-error.js';
export { Random, cyrb128, type Weighted } from './random.js';
export {
  CITIZENSHIP_WEIGHTS,
  DEMOGRAPHY,
  MONTHLY_SEASONALITY,
  ROUTE_DETECTIONS_BY_YEAR,
  SOURCES,
  TYPE_WEIGHTS,
} from './figures.js';
export {
  FACILITIES_BY_PARTNER,
  REPORTED_SEGMENTS,
  ROUTE_SEGMENTS_BY_PARTNER,
  partnerProfile,
  type BorderSection,
  type Facility,
  type PartnerProfile,
  type SegmentProfile,
} from './partner-profiles.js';
