// An NDJSON line's event, validated as `wbx validate` validates it, as the wbx.v1.Event to send.
import { Event } from '@wbx/proto';
import { validateEvent, type ValidateOptions, type Violation } from '@wbx/schema';

/**
 * Reads a parsed NDJSON line as the wbx.v1.Event it describes, through the one validation `wbx validate`
 * and the gateway apply (`validateEvent` of @wbx/schema): an invalid event is refused here, with every
 * violation and its path and code, and never sent. `Event.fromJSON` alone would drop an unknown field
 * (a name, a document number) or coerce a value of the wrong type silently, and the gateway would store
 * an event that is not what the line said.
 */
export function eventFromJson(
  value: unknown,
  options: ValidateOptions = {},
): { ok: true; event: Event } | { ok: false; violations: readonly Violation[] } {
  const result = validateEvent(value, options);
  if (!result.ok) return { ok: false, violations: result.violations };
  return { ok: true, event: Event.fromJSON(result.event) };
}
