import type { Where } from '../body.js';

/** Whether the event's claims meet every where-condition (a missing value meets none). */
export function matchesWhere(where: Where | undefined, claims: Readonly<Record<string, unknown>>): boolean {
  if (where === undefined) return true;
  for (const [field, values] of Object.entries(where)) {
    const value = Object.hasOwn(claims, field) ? claims[field] : undefined;
    if (!values.some((v) => v === value)) return false;
  }
  return true;
}
