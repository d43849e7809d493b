import { decodeBase64url } from '@wbx/registry';

export { decodeBase64url, encodeBase64url } from '@wbx/registry';

/** The JSON value of a base64url string; undefined if it is not canonical base64url of JSON. */
export function jsonFromBase64url(s: string): unknown {
  const bytes = decodeBase64url(s);
  if (bytes === undefined) return undefined;
  try {
    return JSON.parse(bytes.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}
