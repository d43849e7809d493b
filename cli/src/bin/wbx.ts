#!/usr/bin/env node
import { exitStatus } from '../errors.js';
import { processIo } from '../io.js';
import { runCli } from '../program.js';

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
