/**
 * .env.example lists every environment variable the code reads: a variable missing there is a
 * setting nobody can discover. The sources under src/, bin/ and tools/ are scanned for the ways
 * this code base reads a variable; a variable counts as listed when a line of .env.example starts
 * with `NAME=` or `# NAME=`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { QUOTA_VARIABLES } from '../../src/quotas/settings.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const NAME = '[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*';

/**
 * Read by the code but not settings of this project: the system's own, or written by one of our
 * processes for another (MOTO_IOT_CA_FILE: start-up of moto -> tests).
 */
const NOT_SETTINGS = new Set(['PATH', 'HOME', 'JAVA_HOME', 'MOTO_IOT_CA_FILE']);

/** The ways a variable is read here, each with the name in group 1. */
const READS = [
  // process.env.X, env.X, processEnv.X, env?.X (not an assignment to it)
  new RegExp(`\\b(?:process\\.env|\\w*[eE]nv)\\??\\.(${NAME})\\b(?!\\s*=[^=])`, 'g'),
  // process.env['X'], env['X']
  new RegExp(`\\b(?:process\\.env|\\w*[eE]nv)\\[\\s*['"\`](${NAME})['"\`]\\s*\\]`, 'g'),
  // helpers that take a variable name first: value(env, 'X'), get('X'), intEnv('X', ...), int('X', ...)
  new RegExp(`\\b(?:value\\(\\s*\\w+,|get\\(|intEnv\\(|int\\(|duration\\()\\s*['"](${NAME})['"]`, 'g'),
  // const SOMETHING_VARIABLE = 'X'
  new RegExp(`_VARIABLE\\s*=\\s*['"](${NAME})['"]`, 'g'),
];

/** Keys of the per-variable schema tables (`const SPECS = { X: { schema ...`) of the settings modules. */
function specKeys(source: string): string[] {
  const start = source.search(/const SPECS\s*=\s*\{/);
  if (start < 0) return [];
  const body = source.slice(start);
  const end = body.search(/\n\}/);
  return [...body.slice(0, end).matchAll(new RegExp(`^ {2}(${NAME}):\\s*\\{`, 'gm'))].map(
    (m) => m[1] as string,
  );
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sources(path);
    return /\.(ts|mts|cts|mjs|js)$/.test(e.name) ? [path] : [];
  });
}

/** Variable -> files that read it. */
function variablesRead(): Map<string, Set<string>> {
  const found = new Map<string, Set<string>>();
  const add = (name: string, file: string) => found.set(name, (found.get(name) ?? new Set()).add(file));
  for (const file of ['src', 'bin', 'tools'].flatMap((dir) => sources(join(ROOT, dir)))) {
    const text = readFileSync(file, 'utf8');
    const where = relative(ROOT, file);
    for (const re of READS) for (const m of text.matchAll(re)) add(m[1] as string, where);
    for (const k of specKeys(text)) add(k, where);
  }
  for (const v of Object.values(QUOTA_VARIABLES)) add(v, 'src/quotas/settings.ts');
  return found;
}

function listed(): Set<string> {
  const text = readFileSync(join(ROOT, '.env.example'), 'utf8');
  return new Set([...text.matchAll(new RegExp(`^#?[ \\t]*(${NAME})=`, 'gm'))].map((m) => m[1] as string));
}

describe('.env.example', () => {
  it('lists every environment variable the code under src/, bin/ and tools/ reads', () => {
    const read = variablesRead();
    const documented = listed();
    const missing = [...read.keys()]
      .filter((v) => !documented.has(v) && !NOT_SETTINGS.has(v))
      .sort()
      .map((v) => `${v} (read in ${[...(read.get(v) ?? [])].join(', ')})`);
    expect(missing).toEqual([]);
  });

  it('finds the variables of each way of reading one (the scan itself works)', () => {
    const read = variablesRead();
    for (const v of [
      'ENCRYPTION_KEY', // SPECS of src/config
      'INGEST_POLLERS', // SPECS of src/ingest/settings.ts
      'CODEC_SERVER_HOST', // value(env, '...')
      'ROTATION_EVERY', // duration('...')
      'SOLAR_IOT_FAULTS', // FAULTS_VARIABLE
      'SOLAR_IOT_QUOTA_CREATE_POLICY', // QUOTA_VARIABLES
      'API_HOST', // env.API_HOST
      'SOLAR_IOT_DATA_DIR', // process.env.X
      'TEMPORAL_PORT', // intEnv('...')
      'PORT', // SPECS, one word
    ])
      expect(read.has(v), v).toBe(true);
  });
});
