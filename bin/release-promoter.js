#!/usr/bin/env node
// Runs the compiled CLI (dist/, written by `npm run build`, which `npm ci` runs as `prepare`):
// plain JavaScript, no TypeScript loader at start-up.
'use strict';
const { existsSync } = require('node:fs');
const path = require('node:path');

const entry = path.join(__dirname, '..', 'dist', 'cli', 'index.js');
// A clone where `npm ci` never ran (or dist/ was removed) gets a way out instead of a stack trace.
if (!existsSync(entry)) {
  console.error(
    `release-promoter: ${path.relative(process.cwd(), entry) || entry} is missing; run \`npm run build\` in ${path.join(__dirname, '..')}`,
  );
  process.exit(2);
}
require(entry).main();
