/** What a member does in the federation. */
export const ROLES = ['origin', 'recipient', 'analyst'] as const;
export type Role = (typeof ROLES)[number];
