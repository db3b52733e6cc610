/**
 * The tests `npm run mutate` runs: every test file that needs no Temporal server (it neither
 * builds a harness nor reads the dev server globalSetup starts). Rules that matter are tested
 * there, as functions, so each mutant is judged in milliseconds; workflow code cannot be
 * mutated in place anyway (the worker runs it from a bundle in its own sandbox).
 */
const fs = require('node:fs');
const path = require('node:path');

const needsServer = /createHarness|workflowBundle|__temporalEnv|TEMPORAL_TEST_/;
const testDir = path.join(__dirname, 'test');
const unitTests = fs
  .readdirSync(testDir, { recursive: true })
  .filter((f) => f.endsWith('.test.ts'))
  .filter((f) => !needsServer.test(fs.readFileSync(path.join(testDir, f), 'utf8')))
  .map((f) => `<rootDir>/test/${f}`);

module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['@swc/jest'] },
  testMatch: unitTests,
  testTimeout: 60000,
};
