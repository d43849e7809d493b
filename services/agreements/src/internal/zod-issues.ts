import { formatPath } from '@wbx/schema';
import type * as z from 'zod';

import type { AgreementIssue } from '../errors.js';

/** A schema-level error message that says `required` when the value is missing. */
export function orRequired(message: string): (issue: { input?: unknown }) => string {
  return (issue) => (issue.input === undefined ? 'required' : message);
}

/** Per-parse error map: a missing value is `required`, not "expected string, received undefined". */
export const requiredErrorMap = (issue: { code?: string; input?: unknown }): string | undefined =>
  issue.code === 'invalid_type' && issue.input === undefined ? 'required' : undefined;

function at(path: readonly PropertyKey[]): string {
  return path.length === 0 ? '(root)' : formatPath(path);
}

/** zod issues as agreement issues (path `terms[0].fields[2]`, or `(root)`); one per unknown key. */
export function zodIssues(issues: readonly z.core.$ZodIssue[], prefix: PropertyKey[] = []): AgreementIssue[] {
  return issues.flatMap((i): AgreementIssue[] => {
    const path = [...prefix, ...i.path];
    if (i.code === 'unrecognized_keys') {
      return i.keys.map((key) => ({
        path: at([...path, key]),
        code: 'MALFORMED_AGREEMENT',
        message: 'unknown field',
      }));
    }
    return [{ path: at(path), code: 'MALFORMED_AGREEMENT', message: i.message }];
  });
}
