import { foundFederation, writeFederation, type FederationFiles } from '@wbx/registry';

/** Keys and a manifest of partners, written to a directory (see writeFederation). */
export type Identity = FederationFiles;

/** Keys for the partners, valid from an hour ago, and a manifest (threshold 1) signed by all of them. */
export async function makeIdentity(
  dir: string,
  partners: readonly string[] = ['MK'],
  /** TLS certificate pins (SHA-256, lowercase hex) per partner. */
  pins: Readonly<Record<string, readonly string[]>> = {},
): Promise<Identity> {
  const founders = partners.map((id) => ({ id, tlsCertSha256: pins[id] ?? [] }));
  return writeFederation(dir, await foundFederation(founders, 1, new Date(Date.now() - 3_600_000)));
}
