/**
 * The test environment of `npm run mutate`: Node's, plus fail-fast while a mutant is active.
 *
 * Stryker runs every test that covers a mutant, and Jest has no per-test bail, so a mutant that
 * the first git-backed test kills still paid for the thirty after it (15 s instead of 0.5 s), and
 * under load those runs hit Stryker's timeout and were counted as timeouts. Once a test has failed
 * for the active mutant it is killed; the tests after it are skipped. With no active mutant (the
 * dry run, or `jest -c jest.mutate.config.js`) nothing is skipped.
 */
const { TestEnvironment } = require('jest-environment-node');

/** The mutant a test failed for, across the test files this process runs for it. */
let killedMutant;

class MutantFailFastEnvironment extends TestEnvironment {
  activeMutant() {
    const namespace = this.global.__strykerGlobalNamespace__ ?? '__stryker__';
    return this.global[namespace]?.activeMutant;
  }

  async handleTestEvent(event) {
    const mutant = this.activeMutant();
    if (mutant === undefined) return;
    if (event.name === 'test_fn_failure' || event.name === 'hook_failure') killedMutant = mutant;
    // jest-circus checks test.mode right after test_start, so this turns the test into a skip.
    else if (event.name === 'test_start' && killedMutant === mutant) event.test.mode = 'skip';
  }
}

module.exports = MutantFailFastEnvironment;
