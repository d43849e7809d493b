import { jsonFromB64u } from './base64url.js';

export type Json = Record<string, unknown>;

export function isJsonObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** JSON.parse, undefined on any failure. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * Disclosure `i` of a token split by `splitAndDecode` (which checked the base64url alphabet), as JSON:
 * from the texts decoded all at once when there are any, else decoded on its own. Undefined when it is
 * not valid UTF-8 JSON.
 */
export function disclosureJson(
  encoded: readonly string[],
  decoded: readonly string[] | undefined,
  i: number,
): unknown {
  return decoded === undefined ? jsonFromB64u(encoded[i] as string, true) : parseJson(decoded[i] as string);
}
