/**
 * The AWS SDK operations a process's code can call, read from src/: the files its entry point
 * loads (relative imports followed, type-only ones not: they load nothing), and in each the SDK
 * commands it constructs (`new CreateThingCommand(`), named `IoTClient.CreateThing`. The IAM test
 * compares them with what the process was recorded calling, so a call added to a process's code
 * and made by none of its flows fails there, naming the file.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..', '..');

const CLIENTS: Record<string, string> = {
  '@aws-sdk/client-iot': 'IoTClient',
  '@aws-sdk/client-iot-data-plane': 'IoTDataPlaneClient',
  '@aws-sdk/client-sqs': 'SQSClient',
};

/** Every TypeScript file under `dir` (relative to the repository root). */
export function sourceFiles(dir = 'src'): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(join(ROOT, path)).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

/** Files (relative to the repository root) `entry` loads, itself included. */
export function filesLoadedBy(entry: string): string[] {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(join(ROOT, file), 'utf8');
    // `import x from`, `import { a } from`, `export { a } from`, `import './x.js'`; not `import type`.
    for (const [, typeOnly, specifier = ''] of text.matchAll(
      /^(?:import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?'(\.{1,2}\/[^']+)'/gm,
    )) {
      if (typeOnly) continue;
      const target = join(dirname(file), specifier.replace(/\.js$/, '.ts'));
      if (existsSync(join(ROOT, target))) visit(target);
    }
  };
  visit(entry);
  return [...seen].sort();
}

/** The SDK operations each file constructs a command for. */
export function operationsIn(files: string[]): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const file of files) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    for (const [, names = '', module = ''] of text.matchAll(
      /import\s*\{([^}]*)\}\s*from\s*'(@aws-sdk\/[^']+)'/g,
    )) {
      const client = CLIENTS[module];
      if (!client)
        throw new Error(`${file} imports ${module}: teach test/support/source-operations.ts its client`);
      const operations = [...names.matchAll(/\b(\w+)Command\b/g)]
        .filter(([, command]) => text.includes(`new ${command}Command(`))
        .map(([, command]) => `${client}.${command}`);
      if (operations.length > 0) found.set(file, [...(found.get(file) ?? []), ...operations]);
    }
  }
  return found;
}
