/**
 * The fault tier (`npm run test:faults`, run by .ci/run after npm test): test/faults/ kills real
 * workers at every step, stops the dev server, takes the git remote away, fails the ledger's
 * disk, races two workers on one target and sends generated bad input, then prints the table of
 * faults survived (reports/faults.json). `npm test` leaves it out (jest.config.js).
 */
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['@swc/jest'] },
  testMatch: ['<rootDir>/test/faults/**/*.test.ts'],
  globalSetup: '<rootDir>/test/faults/global-setup.ts',
  globalTeardown: '<rootDir>/test/faults/global-teardown.ts',
  testTimeout: 300000,
  // Scenarios of one file run three at a time (test.concurrent), each on its own target, task
  // queue and worker processes: most of a scenario is waiting for a heartbeat timeout to expire.
  maxConcurrency: 3,
};
