/** Integration tests share one dev server (globalSetup) and run in band. */
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['@swc/jest'] },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  // test/cluster/ is the cluster tier (npm run test:cluster, jest.cluster.config.js): its own cluster and setup;
  // test/faults/ the fault tier (npm run test:faults, jest.faults.config.js).
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/cluster/', '<rootDir>/test/faults/'],
  globalSetup: '<rootDir>/test/global-setup.ts',
  globalTeardown: '<rootDir>/test/global-teardown.ts',
  testTimeout: 60000,
  // One test file at a time (--maxWorkers=1, not --runInBand), in a child process that is replaced
  // once it holds this much: a single process that ran every suite crashed late in the run with
  // "async hook stack has become corrupted" (after workflow tasks ran past 5 s) in two full runs.
  workerIdleMemoryLimit: '800MB',
};
