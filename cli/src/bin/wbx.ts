#!/usr/bin/env node
import { getHeapStatistics } from 'node:v8';

import { nodeFlagsToAdd } from '../node-flags.js';

// Flags Node must start with (the heap's sizes): start over as the same process, with them, before
// anything else is loaded. Where execve is missing (Windows), the command runs with Node's defaults.
const flags = nodeFlagsToAdd(
  process.argv.slice(2),
  process.execArgv,
  process.env.NODE_OPTIONS,
  getHeapStatistics().heap_size_limit / 2 ** 20,
);
if (flags.length > 0 && process.execve !== undefined) {
  process.execve(process.execPath, [
    process.execPath,
    ...process.execArgv,
    ...flags,
    ...process.argv.slice(1),
  ]);
}

const { exitStatus } = await import('../errors.js');
const { processIo } = await import('../io.js');
const { runCli } = await import('../program.js');

process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  // A closed pipe (wbx generate | head) is a normal way to stop reading.
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

runCli(process.argv.slice(2), processIo()).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`wbx: INTERNAL: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = exitStatus('INTERNAL');
  },
);
