// The worker's node command line: one definition for the demo, the bench and the tests.
// package.json's `worker` script and the Dockerfile spell out the same flags.
//
// --optimize-for-size: V8 collects garbage sooner and grows its heaps less eagerly. At 200
// concurrent promotions it took the worker's peak RSS from ~515 to ~305 MiB with throughput
// unchanged (npm run bench); most of the difference was garbage waiting for a collection.
// These alone go before dist/worker.js (the compiled worker, as the Dockerfile runs it).
export const WORKER_V8_FLAGS = ['--optimize-for-size'];

/** Before src/worker.ts (development, the demo, the bench): the flags and tsx's TypeScript hook. */
export const WORKER_NODE_ARGS = [...WORKER_V8_FLAGS, '--require', 'tsx/cjs'];
