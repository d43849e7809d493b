import { isNode, LineCounter, parseDocument, type Document } from 'yaml';

import { parseAgreementBody, throwIssues, type AgreementBody } from './body.js';
import { AgreementError, type AgreementIssue } from './errors.js';

/** `terms[0].where.routeSegment[1]` → `['terms', 0, 'where', 'routeSegment', 1]`. */
function keysOf(path: string): (string | number)[] {
  if (path === '(root)') return [];
  const keys: (string | number)[] = [];
  for (const m of path.matchAll(/([^.[\]]+)|\[(\d+)\]/g))
    keys.push(m[2] === undefined ? (m[1] ?? '') : Number(m[2]));
  return keys;
}

/** The line of the node at `path`, or of its nearest ancestor in the document. */
function lineOf(doc: Document, lines: LineCounter, path: string): number | undefined {
  const keys = keysOf(path);
  for (let n = keys.length; n >= 0; n--) {
    const node: unknown = n === 0 ? doc.contents : doc.getIn(keys.slice(0, n), true);
    if (isNode(node) && node.range !== undefined && node.range !== null) {
      return lines.linePos(node.range[0]).line;
    }
  }
  return undefined;
}

/**
 * Reads an agreement body from YAML (or JSON) text, as `wbx agreement draft` does with a terms file, and
 * validates it. A YAML syntax error is MALFORMED_AGREEMENT at `line L, column C`; every problem of the
 * content is reported with its path and line (`issues`). Timestamps are plain strings (YAML core schema).
 */
export function parseAgreementYaml(text: string): AgreementBody {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const syntax: AgreementIssue[] = doc.errors.map((e) => {
    const { line, col } = lines.linePos(e.pos[0]);
    return { path: `line ${line}, column ${col}`, code: 'MALFORMED_AGREEMENT', message: e.message, line };
  });
  throwIssues(syntax, 'malformed agreement (YAML)');
  let input: unknown;
  try {
    input = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw new AgreementError('MALFORMED_AGREEMENT', 'malformed agreement (YAML): cannot be read', {
      cause: e,
      issues: [
        { path: '(root)', code: 'MALFORMED_AGREEMENT', message: e instanceof Error ? e.message : String(e) },
      ],
    });
  }
  try {
    return parseAgreementBody(input);
  } catch (e) {
    if (!(e instanceof AgreementError)) throw e;
    const issues = e.issues.map((i) => {
      const line = lineOf(doc, lines, i.path);
      return line === undefined ? i : { ...i, line };
    });
    throw new AgreementError(e.code, e.message, { cause: e.cause, issues });
  }
}
