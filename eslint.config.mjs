// Lint: typescript-eslint everywhere; on src/workflows/** a determinism rule set, because
// workflow code is replayed and must not touch I/O, clocks or randomness directly.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules.filter((m) => !m.startsWith('_')), ...builtinModules.map((m) => `node:${m}`)];

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      '.tools/**',
      '.data/**',
      'dist/**',
      'coverage/**',
      'bench/results*.json',
      'test/histories/**',
      '.stryker-tmp/**',
      'reports/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      globals: { ...globals.node },
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['src/workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            ...nodeBuiltins.map((name) => ({
              name,
              message: 'Workflow code is replayed: no Node builtins (do I/O in an activity).',
            })),
            { name: 'undici', message: 'Workflow code does no I/O: probe from an activity.' },
            { name: 'proper-lockfile', message: 'Workflow code does no I/O.' },
            { name: 'pino', message: 'Workflow code logs with `log` from @temporalio/workflow (replay-aware).' },
            { name: 'prom-client', message: 'Count in activities: workflow code is replayed.' },
            { name: '@temporalio/worker', message: 'Not in workflow code.' },
            { name: '@temporalio/activity', message: 'Not in workflow code.' },
            { name: '@temporalio/client', message: 'Not in workflow code.' },
          ],
          patterns: [
            {
              group: ['**/activities', '**/activities/*'],
              allowTypeImports: true,
              message: 'Import activities with `import type` only; call them through proxyActivities.',
            },
            {
              group: [
                '**/config',
                '**/ledger/format',
                '**/ledger/store',
                '**/ledger/files',
                '**/ledger/ledger-index',
                '**/ledger/reservations',
                '**/ledger/target-references',
                '**/ledger/verify',
              ],
              message:
                'Not workflow-safe (reads files or uses node:crypto); workflows build entries with ledger/entry-content.',
            },
            {
              group: ['**/cli', '**/cli/*', '**/worker', '**/connection', '**/sample/*'],
              message:
                'Workflows import only domain, failures, gates/results, gates/throttle, redact, ledger/entry(-content), their messages and activity types.',
            },
            {
              group: ['**/metrics', '**/logger'],
              message: 'Not workflow-safe (counts and writes outside the replay).',
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'process', message: 'No process in workflow code: configuration is read by the worker.' },
        { name: 'setInterval', message: 'Use sleep() / condition() in workflows.' },
        { name: 'setTimeout', message: 'Use sleep() in workflows.' },
        { name: 'fetch', message: 'No I/O in workflow code.' },
        { name: 'require', message: 'No dynamic loading in workflow code.' },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: 'Use workflowNow() from ./clock.' },
        { object: 'Math', property: 'random', message: 'Use uuid4() from @temporalio/workflow or a value passed in.' },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: "NewExpression[callee.name='Date'][arguments.length=0]",
          message: 'Use workflowNow() from ./clock.',
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: { globals: { ...globals.node }, sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
