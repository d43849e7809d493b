export {
  parseManifestBody,
  type ManifestBody,
  type Member,
  type PublicJwk,
  type SigningKey,
} from './body.js';
export { RegistryError, type RegistryErrorCode, type RegistryErrorOptions } from './errors.js';
export {
  generateSigningKey,
  type GeneratedSigningKey,
  type PrivateSigningJwk,
  type PublicSigningJwk,
} from './generate-key.js';
export {
  foundFederation,
  writeFederation,
  type FederationFiles,
  type FoundedFederation,
  type Founder,
} from './found.js';
export { importPrivateJwk, importPublicJwk } from './import-key.js';
export { manifestJwks, resolveSigningKey, type ManifestJwk, type ManifestJwks } from './keys.js';
export {
  createManifest,
  decodeManifest,
  signatureKids,
  type ManifestSignature,
  type SignedManifest,
} from './manifest.js';
export {
  addMember,
  removeMember,
  revokeKey,
  rotateKey,
  setThreshold,
  setTlsPins,
  type Instant,
} from './propose.js';
export { ROLES, type Role } from './roles.js';
export { signManifest, type PrivateJwk } from './sign.js';
export { acceptManifestChain, acceptNextManifest, verifyRootManifest } from './verify.js';
