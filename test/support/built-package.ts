/**
 * The package, built once per test run as the Dockerfile's build stage builds it and packed as
 * `npm pack` packs it: the files that stage copies from the build context (and the package's
 * other `files`) are staged in the run's work folder, the checkout's node_modules stands in for
 * the stage's `npm ci`, and `npm pack`
 * (whose prepack is `npm run build`) compiles dist/ with the workflow bundle and writes the
 * tarball. The test files of the run after the first reuse both.
 *
 * `installPackage` is what `npm install <tarball>` leaves in an empty project, without a registry:
 * the tarball unpacked into node_modules/solar-iot and the package's production dependencies
 * (its `dependencies`, nothing else) linked from the checkout's node_modules, where their own
 * dependencies resolve. Code that needs a module the package does not declare (a dev dependency
 * such as tsx) fails there as it would after a real install.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, readFile, realpath, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { inject } from 'vitest';
import { copies, readDockerfile } from './dockerfile.js';

const run = promisify(execFile);
export const ROOT = resolve(import.meta.dirname, '..', '..');

export interface BuiltPackage {
  /** The staged build context, with dist/ built in it. */
  dir: string;
  tarball: string;
  /** The tarball's files, relative to the package root. */
  files: string[];
}

/** The Dockerfile stage that runs `npm run build`. */
export function buildStage(stages = readDockerfile(join(ROOT, 'Dockerfile'))) {
  const stage = stages.find((s) =>
    s.instructions.some((i) => i.op === 'RUN' && /\bnpm run build\b/.test(i.text)),
  );
  if (!stage) throw new Error('no Dockerfile stage runs `npm run build`');
  return stage;
}

export async function builtPackage(): Promise<BuiltPackage> {
  const dir = join(inject('workDir'), 'package');
  const marker = join(dir, '.built.json');
  try {
    return JSON.parse(await readFile(marker, 'utf8')) as BuiltPackage;
  } catch {
    // not built yet in this run
  }
  await mkdir(dir, { recursive: true });
  for (const { from, sources, dest } of copies(buildStage())) {
    if (from) continue;
    for (const source of sources) {
      const target = dest.endsWith('/') ? join(dir, dest, source) : join(dir, dest);
      await cp(join(ROOT, source), target, { recursive: true });
    }
  }
  // What the package ships besides the build's output (the image copies these from the context).
  const { files: shipped = [] } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
    files?: string[];
  };
  for (const path of shipped.filter((f) => f !== 'dist'))
    await cp(join(ROOT, path), join(dir, path), { recursive: true, force: false });
  await symlink(await realpath(join(ROOT, 'node_modules')), join(dir, 'node_modules'));
  await run('npm', ['pack', '--pack-destination', dir], {
    cwd: dir,
    maxBuffer: 64 * 1024 * 1024,
    env: {
      ...process.env,
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      npm_config_update_notifier: 'false',
    },
  });
  const { name, version } = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as Record<
    string,
    string
  >;
  const tarball = join(dir, `${name}-${version}.tgz`);
  const { stdout } = await run('tar', ['-tzf', tarball], { maxBuffer: 16 * 1024 * 1024 });
  const files = stdout
    .split('\n')
    .filter((f) => f && !f.endsWith('/'))
    .map((f) => f.replace(/^package\//, ''));
  const built: BuiltPackage = { dir, tarball, files };
  await writeFile(marker, JSON.stringify(built));
  return built;
}

/** Links `names` from the checkout's node_modules into `nodeModules`. */
export async function linkDependencies(nodeModules: string, names: string[]): Promise<void> {
  const source = await realpath(join(ROOT, 'node_modules'));
  for (const name of names) {
    await mkdir(dirname(join(nodeModules, name)), { recursive: true });
    await symlink(join(source, name), join(nodeModules, name));
  }
}

/** The production dependencies a package.json declares. */
export async function productionDependencies(packageJson: string): Promise<string[]> {
  const pkg = JSON.parse(await readFile(packageJson, 'utf8')) as { dependencies?: Record<string, string> };
  return Object.keys(pkg.dependencies ?? {});
}

/** An empty ESM project at `dir` with the tarball installed (see the header). */
export async function installPackage(tarball: string, dir: string): Promise<string> {
  const installed = join(dir, 'node_modules', 'solar-iot');
  await mkdir(installed, { recursive: true });
  await run('tar', ['-xzf', tarball, '-C', installed, '--strip-components=1']);
  await linkDependencies(
    join(dir, 'node_modules'),
    await productionDependencies(join(installed, 'package.json')),
  );
  await writeFile(
    join(dir, 'package.json'),
    `${JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies: { 'solar-iot': `file:${tarball}` } }, null, 2)}\n`,
  );
  return dir;
}
