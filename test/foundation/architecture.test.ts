/**
 * The shape of src/ that keeps the product readable (issue 15, "Done when"): no file longer than
 * 500 lines, no function longer than 150, and no import cycle between files (type-only imports
 * included: they tie files for a reader too). Each failure names the file or function at fault.
 * Product and tooling apart (no import of tools/, test/ or bench/; no test-only production
 * dependency) is layout.test.ts.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..', '..');
const MAX_FILE_LINES = 500;
const MAX_FUNCTION_LINES = 150;
const CODE = /\.(ts|mts|cts|js|mjs|cjs)$/;

/** Files under `dir` (relative to the repository root), recursively. */
function filesUnder(dir: string): string[] {
  const absolute = join(ROOT, dir);
  let entries: string[];
  try {
    entries = readdirSync(absolute);
  } catch {
    return [];
  }
  return entries.flatMap((entry) => {
    if (entry === 'node_modules') return [];
    const path = join(dir, entry);
    return statSync(join(ROOT, path)).isDirectory() ? filesUnder(path) : [path];
  });
}

const srcFiles = filesUnder('src');
const srcCode = srcFiles.filter((f) => CODE.test(f));

function lineCount(text: string): number {
  return text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
}

function parse(file: string): ts.SourceFile {
  return ts.createSourceFile(file, readFileSync(join(ROOT, file), 'utf8'), ts.ScriptTarget.Latest, true);
}

/** A readable name for a function: its own, the variable or property it is assigned to, or its caller. */
function functionName(node: ts.SignatureDeclaration, sf: ts.SourceFile): string {
  if (node.name) return node.name.getText(sf);
  const parent = node.parent;
  if (
    ts.isVariableDeclaration(parent) ||
    ts.isPropertyAssignment(parent) ||
    ts.isPropertyDeclaration(parent)
  ) {
    return parent.name.getText(sf);
  }
  if (ts.isCallExpression(parent)) return `(callback of ${parent.expression.getText(sf).slice(0, 60)})`;
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  return '(anonymous function)';
}

/** Functions longer than `max` lines (declaration to closing brace, leading comments excluded). */
function longFunctions(file: string, max: number): string[] {
  const sf = parse(file);
  const found: string[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const first = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
      const last = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
      const lines = last - first + 1;
      if (lines > max) found.push(`${file}:${first + 1} ${functionName(node, sf)} is ${lines} lines`);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

type MadgeResult = { circular(): string[][]; warnings(): { skipped: string[] } };
const madge = createRequire(import.meta.url)('madge') as (
  path: string,
  config: Record<string, unknown>,
) => Promise<MadgeResult>;

describe('architecture of src/ (issue 15)', () => {
  it(`has no file longer than ${MAX_FILE_LINES} lines`, () => {
    const long = srcFiles
      .map((file) => ({ file, lines: lineCount(readFileSync(join(ROOT, file), 'utf8')) }))
      .filter(({ lines }) => lines > MAX_FILE_LINES)
      .map(({ file, lines }) => `${file} is ${lines} lines`);
    expect(long, `files over ${MAX_FILE_LINES} lines:\n${long.join('\n')}`).toEqual([]);
  });

  it(`has no function longer than ${MAX_FUNCTION_LINES} lines`, () => {
    const long = srcCode.flatMap((file) => longFunctions(file, MAX_FUNCTION_LINES));
    expect(long, `functions over ${MAX_FUNCTION_LINES} lines:\n${long.join('\n')}`).toEqual([]);
  });

  it('has no import cycle between files, type-only imports included', async () => {
    const result = await madge(join(ROOT, 'src'), {
      fileExtensions: ['ts'],
      tsConfig: join(ROOT, 'tsconfig.json'),
    });
    // An import madge cannot resolve would hide the cycles through it.
    expect(result.warnings().skipped, 'imports madge could not resolve').toEqual([]);
    const cycles = result.circular().map((cycle) => {
      const files = cycle.map((file) => `src/${file}`);
      return `${files.join(' -> ')} -> ${files[0]}`;
    });
    expect(cycles, `import cycles (npx madge --circular --extensions ts src):\n${cycles.join('\n')}`).toEqual(
      [],
    );
  }, 120_000);
});
