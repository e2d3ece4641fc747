#!/usr/bin/env node
// `npx solar-iot`: runs the TypeScript CLI through tsx's loader, in this process.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
