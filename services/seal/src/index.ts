export { createSealer, type Sealer, type SealerOptions, type SealOptions } from './seal.js';
export { disclose } from './disclose.js';
export { holdToken, isAllowed, type HeldToken } from './holder.js';
export {
  readOwnSealedEvent,
  tryVerifyPresentation,
  verifyPresentation,
  type EventEnvelope,
  type VerifiedEvent,
  type VerifyOptions,
  type VerifyOutcome,
} from './verify.js';
export { createDisclosure, digestOf, type Disclosure } from './disclosure.js';
export { splitToken, type TokenParts } from './token.js';
export { bindRefs, REF_BINDING_TYP, type RefBinding, type RefBindingSigner } from './ref-binding.js';
export { SealError, type SealErrorCode } from './errors.js';
export {
  ALWAYS_VISIBLE,
  DEFAULT_IAT_SKEW_S,
  DEFAULT_MAX_TOKEN_BYTES,
  SD_ALG,
  SEAL_ALG,
  SEAL_TYP,
} from './profile.js';
