/**
 * CLI entry: `npm run cli -- <command>`, or `npx solar-iot <command>` through bin/solar-iot.js.
 */
import { processIo } from './io.js';
import { run } from './program.js';

process.exitCode = await run(process.argv.slice(2), processIo());
