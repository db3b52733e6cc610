/**
 * The cluster tier (`npm run test:cluster`): the suites of test/cluster/ on a real Temporal
 * cluster (PostgreSQL + temporal-server, scripts/cluster.ts) with two worker processes, started
 * once by its globalSetup. `npm test` leaves them out (jest.config.js).
 */
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['@swc/jest'] },
  testMatch: ['<rootDir>/test/cluster/**/*.test.ts'],
  globalSetup: '<rootDir>/test/cluster/global-setup.ts',
  globalTeardown: '<rootDir>/test/cluster/global-teardown.ts',
  testTimeout: 180000,
};
