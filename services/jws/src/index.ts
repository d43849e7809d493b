export { decodeBase64url, encodeBase64url, jsonFromBase64url } from './base64url.js';
export { generalJwsSchema, jwsSignatureSchema, type GeneralJws, type JwsSignature } from './general.js';
export {
  JWS_ALG,
  parseProtectedHeader,
  type HeaderProfile,
  type HeaderResult,
  type ProtectedHeader,
} from './header.js';
export { signJws, type SignerHeader } from './sign.js';
export { verifyJws, type SignatureVerdict } from './verify.js';
