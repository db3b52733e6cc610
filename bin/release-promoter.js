#!/usr/bin/env node
// Runs the TypeScript CLI through tsx's require hook: no build step between a clone and `npx release-promoter`.
require('tsx/cjs');
require('../src/cli.ts').main();
