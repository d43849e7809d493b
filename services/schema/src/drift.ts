/**
 * Compile-time proof that the zod schemas and the protobuf contract describe the same messages: for each
 * message, the validated (zod output) type has exactly the generated type's fields and is assignable to
 * it. Adding, removing or retyping a field on one side only fails `tsc`.
 */
import type * as proto from '@wbx/proto';
import type * as z from 'zod';

import type * as bodies from './bodies.js';
import type { EventSchema } from './event.js';
import type * as indicators from './indicator-bodies.js';
import type * as changes from './record-changes.js';

type OnlyIn<A, B> = Exclude<keyof A, keyof B>;
type Conforms<S extends z.ZodType, P> = [OnlyIn<z.output<S>, P>, OnlyIn<P, z.output<S>>] extends [
  never,
  never,
]
  ? z.output<S> extends P
    ? true
    : { error: 'zod output is not assignable to the proto type' }
  : { error: 'fields differ'; onlyInZod: OnlyIn<z.output<S>, P>; onlyInProto: OnlyIn<P, z.output<S>> };

export type SchemaMatchesProto = [
  Conforms<typeof EventSchema, proto.Event>,
  Conforms<typeof bodies.PersonSchema, proto.Person>,
  Conforms<typeof bodies.GeoPointSchema, proto.GeoPoint>,
  Conforms<typeof bodies.CrossingIrregularSchema, proto.CrossingIrregular>,
  Conforms<typeof bodies.SmugglingIncidentSchema, proto.SmugglingIncident>,
  Conforms<typeof bodies.TraffickingVictimSchema, proto.TraffickingVictim>,
  Conforms<typeof bodies.AsylumApplicationSchema, proto.AsylumApplication>,
  Conforms<typeof bodies.AsylumDecisionSchema, proto.AsylumDecision>,
  Conforms<typeof bodies.ResidenceHumanitarianSchema, proto.ResidenceHumanitarian>,
  Conforms<typeof bodies.ReturnDecisionSchema, proto.ReturnDecision>,
  Conforms<typeof bodies.ReturnExecutedSchema, proto.ReturnExecuted>,
  Conforms<typeof bodies.ReadmissionRequestSchema, proto.ReadmissionRequest>,
  Conforms<typeof bodies.ReadmissionResponseSchema, proto.ReadmissionResponse>,
  Conforms<typeof bodies.ReceptionCapacitySchema, proto.ReceptionCapacity>,
  Conforms<typeof bodies.AssessmentRouteSchema, proto.AssessmentRoute>,
  Conforms<typeof bodies.AggregateCellSchema, proto.AggregateCell>,
  Conforms<typeof bodies.StatsAggregateSchema, proto.StatsAggregate>,
  Conforms<typeof changes.RecordCorrectionSchema, proto.RecordCorrection>,
  Conforms<typeof changes.RecordWithdrawalSchema, proto.RecordWithdrawal>,
  Conforms<typeof indicators.EntryRefusalSchema, proto.EntryRefusal>,
  Conforms<typeof indicators.StayIllegalSchema, proto.StayIllegal>,
  Conforms<typeof indicators.DocumentFraudSchema, proto.DocumentFraud>,
];

type AllTrue<T extends readonly unknown[]> = T[number] extends true ? true : false;
/** Fails to compile when any entry of SchemaMatchesProto is not `true`. */
export const schemaMatchesProto: AllTrue<SchemaMatchesProto> = true;
