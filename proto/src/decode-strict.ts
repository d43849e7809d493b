import { BinaryReader } from '@bufbuild/protobuf/wire';

/** Why bytes are not a valid message: the decoder's own words, never the bytes themselves. */
export class MalformedMessageError extends Error {
  readonly code = 'MALFORMED_MESSAGE';

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A generated message type (ts-proto): anything with `decode(reader, length?)`. */
export interface MessageDecoder<T> {
  decode(input: BinaryReader | Uint8Array, length?: number): T;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch (e) {
    throw new MalformedMessageError('not a valid message: a string is not valid UTF-8', { cause: e });
  }
}

/**
 * Decodes `bytes` as a message of `type`, refusing what the generated decoder lets through: a string
 * that is not valid UTF-8 (proto3 requires it; the lenient decoder would store U+FFFD in its place), and
 * at the top level a field number 0 or a wire type that does not exist (where the generated decoder
 * stops reading and drops the rest). Throws MalformedMessageError for these and for every decoder error
 * (truncated data, a bad wire type, a varint too long).
 */
export function decodeStrict<T>(type: MessageDecoder<T>, bytes: Uint8Array): T {
  try {
    // The top-level tags first: BinaryReader.tag() refuses field 0 and wire types 6 and 7, skip() a
    // truncated field or an unmatched end-group tag.
    const scan = new BinaryReader(bytes);
    while (scan.pos < scan.len) {
      const [fieldNo, wireType] = scan.tag();
      scan.skip(wireType, fieldNo);
    }
    return type.decode(new BinaryReader(bytes, decodeUtf8));
  } catch (e) {
    if (e instanceof MalformedMessageError) throw e;
    const why = e instanceof Error ? e.message : 'the decoder failed';
    throw new MalformedMessageError(`not a valid message: ${why}`, { cause: e });
  }
}
