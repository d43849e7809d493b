/** The purposes an agreement may name: a closed list (DESIGN.md, Bilateral agreement). */
export const PURPOSES = [
  'border-management',
  'risk-analysis',
  'anti-smuggling',
  'victim-protection',
  'asylum-cooperation',
  'return-readmission',
] as const;

export type Purpose = (typeof PURPOSES)[number];

export function isPurpose(value: string): value is Purpose {
  return (PURPOSES as readonly string[]).includes(value);
}

/** The only purpose for which special-category records (trafficking victims) may be agreed. */
export const SPECIAL_CATEGORY_PURPOSE: Purpose = 'victim-protection';

/** Event types whose records are special-category data (DESIGN.md, Principles 4). */
export const SPECIAL_CATEGORY_TYPES: readonly string[] = ['trafficking.victim'];

/** The purpose of the readmission workflow (Exchange); agreements naming it set `readmission`. */
export const READMISSION_PURPOSE: Purpose = 'return-readmission';
