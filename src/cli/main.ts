/**
 * CLI entry: `npm run cli -- <command>`, or `npx solar-iot <command>` through bin/solar-iot.js.
 */
import { applyStackState } from '../app/stack-state.js';
import { processIo } from './io.js';
import { run } from './program.js';

// Right after `npm start`, in another terminal: the stack it runs, unless the environment names
// another. Into process.env: the AWS SDK finds its credentials there.
await applyStackState();
process.exitCode = await run(process.argv.slice(2), processIo());
