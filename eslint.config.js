// @ts-check
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      '**/node_modules/**',
      'proto/src/gen/**',
      'coverage/**',
      '.cache/**',
      '**/.output/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      globals: globals.node,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-confusing-void-expression': 'off',
      // A package is used through its public face only (its index.ts): no other package's src/, dist/,
      // internal/ or node_modules/, by name or by a relative path.
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: '^@wbx/[^/]+/', message: 'Import a workspace package by its name only (its index.ts).' },
            { regex: '(^|/)node_modules/', message: 'Import a dependency by its name.' },
            {
              regex: '^(\\.\\./)+(proto|services|gateway|cli|bench|test/(helpers|fixtures|e2e))(/|$)',
              message: "Another package's files: import it by its name (@wbx/…) and use its public API.",
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  prettier,
);
