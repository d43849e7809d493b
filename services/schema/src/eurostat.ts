/**
 * The crosswalk from WBX codes to Eurostat's codelists (docs/eurostat-crosswalk.md), so that figures
 * exported as SDMX-CSV load beside Eurostat's migration datasets (migr_asyappctza, migr_eirfs, …).
 */
import { ALPHA2_TO_ALPHA3, STATELESS_CITIZENSHIP, UNKNOWN_CITIZENSHIP } from './countries.js';
import { REFUSAL_GROUNDS } from './vocabulary.js';

/**
 * Where Eurostat's CITIZEN (and GEO) codes differ from ISO 3166-1 alpha-2 of the alpha-3 code WBX
 * carries: Greece is EL and the United Kingdom UK (Eurostat's country-code rule), Kosovo XK (the
 * user-assigned code, as WBX's XKX), and the two non-countries STLS (stateless) and UNK (unknown).
 */
export const EUROSTAT_CITIZEN_EXCEPTIONS: ReadonlyMap<string, string> = new Map([
  ['GRC', 'EL'],
  ['GBR', 'UK'],
  ['XKX', 'XK'],
  [STATELESS_CITIZENSHIP, 'STLS'],
  [UNKNOWN_CITIZENSHIP, 'UNK'],
]);

const ALPHA3_TO_ALPHA2: ReadonlyMap<string, string> = new Map(
  [...ALPHA2_TO_ALPHA3].map(([a2, a3]) => [a3, a2] as const),
);

const CITIZEN_TO_WBX: ReadonlyMap<string, string> = new Map([
  ...[...ALPHA2_TO_ALPHA3].map(([a2, a3]) => [a2, a3] as const),
  ...[...EUROSTAT_CITIZEN_EXCEPTIONS].map(([wbx, es]) => [es, wbx] as const),
]);

/**
 * Eurostat's CITIZEN code of a WBX citizenship (ISO 3166-1 alpha-3, XKX, XXA or XXX), e.g. SYR → SY,
 * GRC → EL, XKX → XK, XXA → STLS, XXX → UNK; undefined for a code WBX does not know.
 */
export function eurostatCitizen(citizenship: string): string | undefined {
  return EUROSTAT_CITIZEN_EXCEPTIONS.get(citizenship) ?? ALPHA3_TO_ALPHA2.get(citizenship);
}

/** The WBX citizenship of a Eurostat CITIZEN code (the inverse of eurostatCitizen); undefined if none. */
export function citizenshipFromEurostat(citizen: string): string | undefined {
  return CITIZEN_TO_WBX.get(citizen);
}

/** Eurostat's border types (migr_eirfs BORDER) for WBX's borderType. */
export const EUROSTAT_BORDER_TYPES: Readonly<Record<string, string>> = {
  land: 'LAND',
  sea: 'SEA',
  air: 'AIR',
};

/**
 * The Schengen Borders Code Annex V Part B letter (A–I) of a refusal ground: the letters Eurostat's
 * refusal statistics (migr_eirfs, REASON) are labelled with.
 */
export const REFUSAL_GROUND_LETTERS: Readonly<Record<string, string>> = Object.fromEntries(
  REFUSAL_GROUNDS.map((ground, i) => [ground, String.fromCharCode(65 + i)]),
);
