export {
  CertificateAuthority,
  type CertFiles,
  type CertProfile,
  type IssuedCert,
  type Validity,
} from './authority.js';
export { makeDemoPki, type DemoCert, type DemoPki } from './demo-pki.js';
export { certPin } from './pin.js';
