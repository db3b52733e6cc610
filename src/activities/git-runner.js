// Runs git for the worker: a small process that forks git cheaply, where forking from the
// worker itself (hundreds of MiB) cost ~7.5 ms of its main thread per call. Plain CommonJS so it
// starts without a TypeScript loader. Messages: { id, args, cwd, env, timeout, maxBuffer } in,
// { id, error, code, stdout, stderr } out. Still execFile with an argument array: no shell.
'use strict';
const { execFile } = require('node:child_process');

process.on('message', (request) => {
  execFile(
    'git',
    request.args,
    { cwd: request.cwd, env: request.env, timeout: request.timeout, maxBuffer: request.maxBuffer },
    (err, stdout, stderr) => {
      process.send({
        id: request.id,
        error: err ? err.message : undefined,
        code: err ? (typeof err.code === 'number' ? err.code : null) : 0,
        stdout: String(stdout),
        stderr: String(stderr),
      });
    },
  );
});
process.on('disconnect', () => process.exit(0));
