/** The six Western Balkans partners of the Skopje Declaration. */
export const WESTERN_BALKANS = ['AL', 'BA', 'XK', 'ME', 'MK', 'RS'] as const;

/** EU member states by ISO 3166-1 alpha-2 (Greece as GR, its ISO code). */
export const EU_MEMBER_STATES = [
  'AT',
  'BE',
  'BG',
  'HR',
  'CY',
  'CZ',
  'DK',
  'EE',
  'FI',
  'FR',
  'DE',
  'GR',
  'HU',
  'IE',
  'IT',
  'LV',
  'LT',
  'LU',
  'MT',
  'NL',
  'PL',
  'PT',
  'RO',
  'SK',
  'SI',
  'ES',
  'SE',
] as const;

/** EU agencies and international bodies that take part as analysts. */
export const AGENCIES = ['FRONTEX', 'EUAA', 'EUROPOL'] as const;

export type PartnerCode =
  (typeof WESTERN_BALKANS)[number] | (typeof EU_MEMBER_STATES)[number] | (typeof AGENCIES)[number];

export const PARTNER_CODES: ReadonlySet<string> = new Set<string>([
  ...WESTERN_BALKANS,
  ...EU_MEMBER_STATES,
  ...AGENCIES,
]);

export function isPartnerCode(code: string): code is PartnerCode {
  return PARTNER_CODES.has(code);
}
