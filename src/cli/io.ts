/** Where the CLI writes, injectable so tests run it in-process. */
export interface CliIo {
  stdout: { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown; isTTY?: boolean };
  env: Record<string, string | undefined>;
}

export const EXIT = {
  ok: 0,
  /** Something failed (AWS, Temporal, a workflow, a conflict). */
  failure: 1,
  /** Wrong command line or configuration: fix the invocation. */
  usage: 2,
  /** The plant (or shadow, rule, backfill) does not exist. */
  notFound: 3,
} as const;

export function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env };
}
