import { formatPath } from '@wbx/schema';
import type * as z from 'zod';

/** Each zod issue as `path: message` (path `a.b[2].c`, or `(root)`). */
export function issuePaths(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((i) => `${i.path.length === 0 ? '(root)' : formatPath(i.path)}: ${i.message}`);
}
