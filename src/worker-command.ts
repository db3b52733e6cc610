// The worker's node command line: one definition for the demo and the bench. package.json's
// `worker` script and the Dockerfile spell out the same flags.
//
// --optimize-for-size: V8 collects garbage sooner and grows its heaps less eagerly. At 200
// concurrent promotions it took the worker's peak RSS from ~515 to ~305 MiB with throughput
// unchanged (npm run bench); most of the difference was garbage waiting for a collection.
export const WORKER_NODE_ARGS = ['--optimize-for-size', '--require', 'tsx/cjs'];
