import type { AgreementBody, Term } from '../body.js';
import { SPECIAL_CATEGORY_PURPOSE, SPECIAL_CATEGORY_TYPES, type Purpose } from '../purposes.js';

/**
 * Special-category records flow only under an agreement for victim-protection whose term says so, and
 * for a query only when it is for victim-protection (deny by default). The sharer, Query and Match
 * decide with it, and the receiver checks again with it (`purpose` undefined).
 */
export function specialCategoryAllows(
  body: AgreementBody,
  term: Term,
  type: string,
  purpose: Purpose | undefined,
): boolean {
  if (term.mode !== 'records' || !SPECIAL_CATEGORY_TYPES.includes(type)) return true;
  return (
    term.specialCategory === true &&
    body.purposes.includes(SPECIAL_CATEGORY_PURPOSE) &&
    (purpose === undefined || purpose === SPECIAL_CATEGORY_PURPOSE)
  );
}
