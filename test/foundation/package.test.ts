/**
 * A library any Node project can import (issue 17, item 4): `npm pack` (prepack: `npm run build`)
 * makes a tarball of compiled ESM with declarations and the prebuilt workflow bundle; installed
 * into an empty project it is imported from plain JavaScript and from TypeScript, whose types
 * resolve, and calls the test run's Temporal, PostgreSQL and moto. The project gets only the
 * package's production dependencies, never tsx (test/support/built-package.ts says how, offline).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import {
  type BuiltPackage,
  builtPackage,
  installPackage,
  linkDependencies,
  productionDependencies,
  ROOT,
} from '../support/built-package.js';
import { ran } from '../support/child.js';
import { serversEnv } from '../support/servers-env.js';

let pkg: BuiltPackage;
let project: string;

beforeAll(async () => {
  pkg = await builtPackage();
  project = await installPackage(pkg.tarball, join(inject('workDir'), 'consumer'));
}, 600_000);

/** What a service using the library sets: the test run's servers, nothing from this process. */
const consumerEnv = () => serversEnv({ ENCRYPTION_KEY: inject('stack').ENCRYPTION_KEY, LOG_LEVEL: 'error' });

/** The last stdout line of a consumer script, which prints its findings as JSON. */
function findings(output: string): Record<string, unknown> {
  const line = output.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    throw new Error(`no JSON findings in:\n${output}`);
  }
}

const CONSUMER_MJS = `import { randomUUID } from 'node:crypto';
import { closeSolarIot, getSolarIot, PlantNotFoundError, provisionWorkflowId } from 'solar-iot';

const solarIot = await getSolarIot();
const readiness = await solarIot.checkReadiness();
const notFound = await solarIot.getPlantIoTStatus(randomUUID()).then(() => 'found', (e) => e instanceof PlantNotFoundError);
const internal = await import('solar-iot/dist/db/schema.js').then(() => 'imported', (e) => e.code);
await closeSolarIot();
console.log(JSON.stringify({ ready: readiness.ready, checks: readiness.checks, notFound, internal, workflowId: provisionWorkflowId('p1') }));
`;

const CONSUMER_TS = `import { closeSolarIot, getSolarIot, type Readiness, type PlantStatus } from 'solar-iot';

const solarIot = await getSolarIot();
const readiness: Readiness = await solarIot.checkReadiness();
const read: (plantId: string) => Promise<PlantStatus> = solarIot.getPlantIoTStatus;
// @ts-expect-error plant ids are strings: an untyped (any) library would let this through
await solarIot.getPlantIoTStatus(42).catch(() => undefined);
await closeSolarIot();
console.log(JSON.stringify({ ready: readiness.ready, temporal: readiness.checks.temporal.ok, read: typeof read }));
`;

describe('the npm package', () => {
  it('holds the compiled library with its declarations, the prebuilt workflow bundle, migrations and CLI, no sources', () => {
    for (const file of [
      'package.json',
      'dist/client.js',
      'dist/client.d.ts',
      'dist/worker.js',
      'dist/workflow-bundle.js',
      'dist/workflow-bundle.json',
      'dist/codec/failure-converter.cjs',
      'drizzle/meta/_journal.json',
      'bin/solar-iot.js',
    ])
      expect(pkg.files, file).toContain(file);
    const outside = pkg.files.filter(
      (f) =>
        /^(src|test|tools|bench|\.data|node_modules)\//.test(f) ||
        (f.endsWith('.ts') && !f.endsWith('.d.ts')),
    );
    expect(outside).toEqual([]);
  });

  it('declares no tsx: the compiled code runs on plain Node', async () => {
    expect(await productionDependencies(join(ROOT, 'package.json'))).not.toContain('tsx');
  });

  it('is imported from plain JavaScript in an empty project and calls the running stack', async () => {
    await writeFile(join(project, 'consumer.mjs'), CONSUMER_MJS);
    const { code, output } = await ran([process.execPath, 'consumer.mjs'], {
      cwd: project,
      env: consumerEnv(),
    });
    expect(code, output).toBe(0);
    const found = findings(output);
    expect(found, output).toMatchObject({
      ready: true,
      checks: { temporal: { ok: true }, postgresql: { ok: true }, aws: { ok: true } },
      notFound: true,
      workflowId: 'provision-plant-p1',
    });
    // The exports map publishes the library entry, not the modules behind it.
    expect(found.internal).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
  });

  it('is typed for TypeScript: a consumer compiles against the declarations, a wrong call does not, and it runs', async () => {
    const dir = join(project, 'ts');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'consumer.ts'), CONSUMER_TS);
    // What `tsc --init` gives a Node ESM project, and @types/node, a dev dependency of any such project.
    await writeFile(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          skipLibCheck: true,
          types: ['node'],
          outDir: 'out',
        },
        include: ['consumer.ts'],
      }),
    );
    await linkDependencies(join(project, 'node_modules'), ['@types/node']);
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const compiled = await ran([process.execPath, tsc, '-p', dir], { cwd: project, env: consumerEnv() });
    expect(compiled.code, compiled.output).toBe(0);

    const { code, output } = await ran([process.execPath, join(dir, 'out', 'consumer.js')], {
      cwd: project,
      env: consumerEnv(),
    });
    expect(code, output).toBe(0);
    expect(findings(output)).toEqual({ ready: true, temporal: true, read: 'function' });
  });

  it('runs its CLI compiled from the installed package', async () => {
    const bin = join(project, 'node_modules', 'solar-iot', 'bin', 'solar-iot.js');
    const { code, output } = await ran([process.execPath, bin, '--help'], {
      cwd: project,
      env: consumerEnv(),
    });
    expect(code, output).toBe(0);
    expect(output).toMatch(/Usage: solar-iot/);
  });
});
