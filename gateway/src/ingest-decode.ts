import { decodeStrict, Event, IngestService, MalformedMessageError } from '@wbx/proto';

/**
 * A request whose bytes are not a valid `wbx.v1.Event`, handed to the Ingest handler in place of the
 * event. grpc-js answers a deserializer that throws with a bare INTERNAL (server-interceptors.js,
 * `decompressAndMaybePush`) before any handler or interceptor sees the call, so Ingest's deserializer
 * never throws: the handler gets this instead and the pipeline answers INVALID_ARGUMENT /
 * MALFORMED_MESSAGE (a stream goes on, as for any other bad event). It keeps the size and the decoder's
 * reason, never the bytes.
 */
export class MalformedRequest {
  constructor(
    /** The message's size in bytes. */
    readonly size: number,
    /** What is wrong with it, in the decoder's words (no content). */
    readonly reason: string,
  ) {}
}

function deserializeEvent(bytes: Buffer): Event | MalformedRequest {
  try {
    return decodeStrict(Event, bytes);
  } catch (e) {
    if (e instanceof MalformedMessageError) return new MalformedRequest(bytes.length, e.message);
    throw e;
  }
}

/**
 * wbx.v1.Ingest with strict request decoding ({@link decodeStrict}: valid UTF-8, no invalid tags) that
 * never throws: a malformed request reaches the handler as a {@link MalformedRequest}.
 */
export const StrictIngestService = {
  submit: { ...IngestService.submit, requestDeserialize: deserializeEvent },
  submitStream: { ...IngestService.submitStream, requestDeserialize: deserializeEvent },
} as const;

/** What the pipeline is given for a request: the event as JSON, or the malformed request as it is. */
export function ingestInput(request: Event | MalformedRequest): unknown {
  return request instanceof MalformedRequest ? request : Event.toJSON(request);
}

/** The event id a request names; empty for a malformed one. */
export function requestEventId(request: Event | MalformedRequest): string {
  return request instanceof MalformedRequest ? '' : request.eventId;
}
