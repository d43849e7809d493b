import type { Event } from '@wbx/proto';

/**
 * One NDJSON line (without the newline) of an event in proto3 canonical JSON. Key order is the order
 * in which the object was built; generateEvents builds every object in proto field order with all
 * non-optional fields present, so the line is deterministic.
 */
export function eventToNdjsonLine(event: Event): string {
  return JSON.stringify(event);
}
