export { CERT_EXTENSIONS, certPin, makeDemoPki, openssl, type DemoPki } from './pki.js';
