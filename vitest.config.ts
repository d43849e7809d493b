import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Tests run against package sources: each workspace package @wbx/<name> resolves to its src/index.ts.
const root = fileURLToPath(new URL('.', import.meta.url));
const packageDirs = [
  'proto',
  'services/schema',
  'services/synth',
  'services/jws',
  'services/turn',
  'services/registry',
  'services/seal',
  'services/agreements',
  'services/audit',
  'services/analytics',
  'services/pki',
  'services/nats-server',
  'gateway',
  'cli',
  'test/helpers',
  'test/fixtures',
];
const alias = packageDirs.map((dir) => {
  const pkg = JSON.parse(readFileSync(`${root}${dir}/package.json`, 'utf8')) as { name: string };
  return { find: new RegExp(`^${pkg.name}$`), replacement: `${root}${dir}/src/index.ts` };
});

export default defineConfig({
  resolve: { alias },
  test: {
    include: ['{proto,services/*,gateway,cli,test/*,bench}/test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    reporters: ['default', './scripts/summary-reporter.ts'],
    globalSetup: ['./scripts/build-before-tests.ts'],
  },
});
