// Strict reading of an NDJSON line as a wbx.v1.Event in proto3 JSON, before it is sent to a gateway.
import { loadSync } from '@grpc/proto-loader';
import { Event, protoDir } from '@wbx/proto';
import { parseTimestamp } from '@wbx/schema';

/** A violation found before sending (same shape and codes as the gateway's). */
export interface LocalViolation {
  readonly path: string;
  readonly code:
    'INVALID_JSON' | 'UNKNOWN_FIELD' | 'INVALID_TYPE' | 'INVALID_FORMAT' | 'OUT_OF_RANGE' | 'INCONSISTENT';
  readonly message: string;
}

interface FieldDescriptor {
  readonly name: string;
  readonly label: string;
  readonly type: string;
  readonly typeName: string;
}

type MessageIndex = ReadonlyMap<string, ReadonlyMap<string, FieldDescriptor>>;

let messageIndex: MessageIndex | undefined;

/** wbx.v1 message descriptors by full name, each field reachable by its proto name and its JSON name. */
function messages(): MessageIndex {
  if (messageIndex !== undefined) return messageIndex;
  const definition = loadSync('wbx/v1/event.proto', { includeDirs: [protoDir], keepCase: true });
  const index = new Map<string, Map<string, FieldDescriptor>>();
  for (const [name, def] of Object.entries(definition)) {
    if (!('format' in def) || def.format !== 'Protocol Buffer 3 DescriptorProto') continue;
    const fields = new Map<string, FieldDescriptor>();
    for (const f of (def.type as { field: FieldDescriptor[] }).field) {
      fields.set(f.name, f);
      fields.set(
        f.name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()),
        f,
      );
    }
    index.set(name, fields);
  }
  messageIndex = index;
  return index;
}

const INT32 = new Set(['TYPE_INT32', 'TYPE_SINT32', 'TYPE_SFIXED32']);
const UINT32 = new Set(['TYPE_UINT32', 'TYPE_FIXED32']);
const INT64 = new Set(['TYPE_INT64', 'TYPE_SINT64', 'TYPE_SFIXED64', 'TYPE_UINT64', 'TYPE_FIXED64']);

function checkScalar(f: FieldDescriptor, v: unknown, path: string, out: LocalViolation[]): void {
  const bad = (what: string): void => {
    out.push({ path, code: 'INVALID_TYPE', message: `must be ${what}` });
  };
  if (f.type === 'TYPE_STRING' || f.type === 'TYPE_BYTES') {
    if (typeof v !== 'string') bad('a string');
  } else if (f.type === 'TYPE_BOOL') {
    if (typeof v !== 'boolean') bad('true or false');
  } else if (f.type === 'TYPE_DOUBLE' || f.type === 'TYPE_FLOAT') {
    const ok =
      typeof v === 'number' ||
      (typeof v === 'string' &&
        (/^(NaN|-?Infinity)$/.test(v) || (v.trim() !== '' && Number.isFinite(Number(v)))));
    if (!ok) bad('a number');
  } else if (INT32.has(f.type) || UINT32.has(f.type) || INT64.has(f.type)) {
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : NaN;
    if (!Number.isInteger(n)) bad('a whole number');
    else if (
      UINT32.has(f.type) ? n < 0 || n > 0xffff_ffff : INT32.has(f.type) && (n < -(2 ** 31) || n >= 2 ** 31)
    ) {
      out.push({
        path,
        code: 'OUT_OF_RANGE',
        message: `outside the range of ${f.type.slice(5).toLowerCase()}`,
      });
    }
  } else if (f.type === 'TYPE_ENUM') {
    if (typeof v !== 'string' && !Number.isInteger(v)) bad('an enum name or number');
  }
}

function checkValue(f: FieldDescriptor, v: unknown, path: string, out: LocalViolation[]): void {
  if (f.type !== 'TYPE_MESSAGE') return checkScalar(f, v, path, out);
  const typeName = f.typeName.replace(/^\./, '');
  if (typeName === 'google.protobuf.Timestamp') {
    // The wire carries seconds and nanos: a string that is no real UTC instant cannot be sent as it is
    // (Feb 30 would become Mar 1); the schema's own parser decides, as `wbx validate` does.
    if (typeof v === 'string' && parseTimestamp(v) === undefined) {
      out.push({ path, code: 'INVALID_FORMAT', message: 'must be an RFC 3339 UTC timestamp' });
    } else if (typeof v !== 'string')
      out.push({ path, code: 'INVALID_TYPE', message: 'must be an RFC 3339 timestamp' });
    return;
  }
  checkMessage(messages().get(`wbx.v1.${typeName}`) ?? messages().get(typeName), v, path, out);
}

function checkMessage(
  fields: ReadonlyMap<string, FieldDescriptor> | undefined,
  value: unknown,
  path: string,
  out: LocalViolation[],
): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    out.push({ path, code: 'INVALID_TYPE', message: 'must be an object' });
    return;
  }
  if (fields === undefined) return;
  const seen = new Map<FieldDescriptor, string>();
  for (const [key, v] of Object.entries(value)) {
    const at = path === '' ? key : `${path}.${key}`;
    const f = fields.get(key);
    if (f === undefined) {
      out.push({ path: at, code: 'UNKNOWN_FIELD', message: 'not a field of this message' });
      continue;
    }
    const other = seen.get(f);
    if (other !== undefined) {
      out.push({ path: at, code: 'INCONSISTENT', message: `set twice, also as ${other}` });
      continue;
    }
    seen.set(f, key);
    if (v === null) continue;
    if (f.label === 'LABEL_REPEATED') {
      if (!Array.isArray(v)) out.push({ path: at, code: 'INVALID_TYPE', message: 'must be a list' });
      else (v as unknown[]).forEach((item, i) => checkValue(f, item, `${at}[${i}]`, out));
    } else checkValue(f, v, at, out);
  }
}

/**
 * Reads a parsed NDJSON line as a wbx.v1.Event in proto3 JSON, strictly: a field the message does not
 * have, or a value of the wrong JSON type, is a violation (proto3 JSON parsers reject unknown fields by
 * default). `Event.fromJSON` alone would drop or coerce them silently, and the gateway would store an
 * event that is not what the line said.
 */
export function eventFromJson(
  value: unknown,
): { ok: true; event: Event } | { ok: false; violations: LocalViolation[] } {
  const violations: LocalViolation[] = [];
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return {
      ok: false,
      violations: [{ path: '', code: 'INVALID_JSON', message: 'an event is a JSON object' }],
    };
  }
  checkMessage(messages().get('wbx.v1.Event'), value, '', violations);
  if (violations.length > 0) return { ok: false, violations };
  return { ok: true, event: Event.fromJSON(value) };
}
