/**
 * The CLI in-process, as most CLI tests run it: `run(argv, io)` with `env` as all the environment
 * it sees (a shell's; with a TestStack, `{ ...stack.env, ...stack.apiEnv }`). The bin shim and
 * `npm run cli` as real processes: `ran` of ./child.ts.
 */
import { run } from '../../src/cli/program.js';

export interface CliRan {
  code: number;
  stdout: string;
  stderr: string;
}

/** `tty`: both streams are an interactive terminal (progress bars, sparklines). */
export async function runCli(
  argv: string[],
  env: Record<string, string | undefined>,
  options: { tty?: boolean } = {},
): Promise<CliRan> {
  let stdout = '';
  let stderr = '';
  const isTTY = options.tty ?? false;
  const code = await run(argv, {
    stdout: { write: (s: string) => (stdout += s), isTTY },
    stderr: { write: (s: string) => (stderr += s), isTTY },
    env,
  });
  return { code, stdout, stderr };
}
