/**
 * The tests `npm run mutate` runs: the unit tests of the modules stryker.config.json mutates.
 * They call the rules as functions (with real files and real git where the rule needs them), so
 * each mutant is judged in well under a second. The suites that need a Temporal server, spawn the
 * CLI or wait out real rate-limit windows prove the same rules end to end in `npm test`; workflow
 * code cannot be mutated in place anyway (the worker runs it from a bundle in its own sandbox),
 * which is why the rules live in plain modules (e.g. workflows/approval-rules.ts).
 */
const RULE_TESTS = [
  'approval-rules',
  'request-rules',
  'repo-location',
  'plan',
  'promote',
  'git',
  'ledger-rules',
  'ledger',
  'ledger-verify',
  'redact',
  'redact-rules',
  'verdicts',
  'throttle',
  'gate-results',
];

module.exports = {
  testEnvironment: require.resolve('./test/mutate-environment.js'),
  transform: { '^.+\\.ts$': ['@swc/jest'] },
  testMatch: RULE_TESTS.map((name) => `<rootDir>/test/${name}.test.ts`),
  testTimeout: 60000,
};
