import type { Json } from './json.js';

/** The always-visible claims of a WBX payload, of the JSON types the profile gives them. */
export interface Envelope {
  readonly iss: string;
  readonly jti: string;
  /** Seconds since the epoch. */
  readonly iat: number;
  readonly type: string;
  readonly version: number;
}

/** The payload's always-visible claims; undefined when one is missing or of the wrong type. */
export function envelopeOf(payload: Json): Envelope | undefined {
  const { iss, jti, iat, wbx_type: type, wbx_v: version } = payload;
  if (
    typeof iss !== 'string' ||
    typeof jti !== 'string' ||
    typeof type !== 'string' ||
    !Number.isSafeInteger(iat) ||
    (iat as number) < 0 ||
    !Number.isSafeInteger(version)
  ) {
    return undefined;
  }
  return { iss, jti, iat: iat as number, type, version: version as number };
}
