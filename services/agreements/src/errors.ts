/**
 * Stable error codes of the agreements package. Operators, tests and the gRPC boundary rely on these
 * strings; add new ones, never rename.
 */
export type AgreementErrorCode =
  /** The agreement (envelope, body or terms) does not have the required form; `issues` lists every one. */
  | 'MALFORMED_AGREEMENT'
  /** A field, dimension or where-condition names a path that the term's types do not have. */
  | 'UNKNOWN_PATH'
  /** Special-category records (trafficking victims) without purpose victim-protection and `specialCategory`. */
  | 'SPECIAL_CATEGORY'
  /** The key belongs to a partner that is neither the provider nor the recipient. */
  | 'NOT_A_PARTY'
  /** A signature or revocation does not have the WBX agreement profile, or does not verify. */
  | 'BAD_SIGNATURE'
  /** The party has signed this agreement already. */
  | 'DUPLICATE_SIGNER'
  /** The agreement carries a revocation that takes effect at or before the one requested. */
  | 'ALREADY_REVOKED'
  /** A private key that is not a usable Ed25519 private key, or a kid not of the form `<partner>#…`. */
  | 'INVALID_KEY'
  /** An argument outside its domain (an invalid date, a period that is not day/week/month, …). */
  | 'INVALID_ARGUMENT';

/** The code of one problem of an agreement document. */
export type AgreementIssueCode = 'MALFORMED_AGREEMENT' | 'UNKNOWN_PATH' | 'SPECIAL_CATEGORY';

/** One problem of an agreement document: where (`terms[0].fields[2]`) and which rule it broke. */
export interface AgreementIssue {
  readonly path: string;
  readonly code: AgreementIssueCode;
  readonly message: string;
  /** The line of the source file (1-based), when the agreement was read from YAML. */
  readonly line?: number;
}

export interface AgreementErrorOptions extends ErrorOptions {
  /** Every individual problem of the document. */
  readonly issues?: readonly AgreementIssue[];
}

/** The one error type the agreements package throws; branch on `code`, never on the message. */
export class AgreementError extends Error {
  readonly issues: readonly AgreementIssue[];

  constructor(
    readonly code: AgreementErrorCode,
    message: string,
    options?: AgreementErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
    this.issues = options?.issues ?? [];
  }

  /** Each issue as `path: message`. */
  get details(): string[] {
    return this.issues.map(
      (i) => `${i.path}${i.line === undefined ? '' : ` (line ${i.line})`}: ${i.message}`,
    );
  }
}
