#!/usr/bin/env node
// `npx solar-iot`. In a checkout (src/ present) the TypeScript CLI through tsx's loader, in this
// process, so it always runs the current sources; from the package or the image (no src/) the
// code `npm run build` compiled into dist/, without tsx.
import { existsSync } from 'node:fs';

const sources = new URL('../src/cli/main.ts', import.meta.url);
if (existsSync(sources)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(sources.href);
} else {
  await import('../dist/cli/main.js');
}
