export { Event } from './gen/wbx/v1/event.js';
export { GeoPoint, Person } from './gen/wbx/v1/common.js';
export {
  AggregateCell,
  AssessmentRoute,
  AsylumApplication,
  AsylumDecision,
  CrossingIrregular,
  ReadmissionRequest,
  ReadmissionResponse,
  ReceptionCapacity,
  ResidenceHumanitarian,
  ReturnDecision,
  ReturnExecuted,
  SmugglingIncident,
  StatsAggregate,
  TraffickingVictim,
} from './gen/wbx/v1/bodies.js';
export { protoDir } from './proto-dir.js';
