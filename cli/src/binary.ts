import { fileURLToPath } from 'node:url';

/**
 * The path of the built `wbx` executable (`dist/bin/wbx.js`), for tools and tests that run it as a
 * process of its own; the same whether this module is loaded from `src/` or from `dist/`.
 */
export function wbxBinary(): string {
  return fileURLToPath(new URL('../dist/bin/wbx.js', import.meta.url));
}
