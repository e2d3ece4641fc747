/**
 * The one configuration error of every process. Each reader of the environment (src/config for
 * the shared variables, and the settings of the API, codec, ingestion, quotas and rotation) throws
 * it, so a process catches one type and exits 2 with `message`: one line per wrong variable,
 * naming it, what is wrong with the value (never a secret) and how to fix it.
 */

export interface ConfigIssue {
  readonly variable: string;
  readonly problem: string;
  readonly fix: string;
}

/** A line of a settings reader that formats its own text (`VAR: ... Fix: ...`). */
function issueOfLine(line: string): ConfigIssue {
  const variable = /^([A-Z][A-Z0-9_]*)[:=]/.exec(line)?.[1] ?? '';
  return { variable, problem: line, fix: '' };
}

export function formatIssue(issue: ConfigIssue): string {
  return `${issue.variable}: ${issue.problem}. Fix: ${issue.fix}`;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly issues: readonly ConfigIssue[];
  /** The lines of `message`, one per problem. */
  readonly lines: readonly string[];

  constructor(problems: readonly (ConfigIssue | string)[]) {
    const lines = problems.map((p) => (typeof p === 'string' ? p : formatIssue(p)));
    super(lines.join('\n'));
    this.lines = lines;
    this.issues = problems.map((p) => (typeof p === 'string' ? issueOfLine(p) : p));
  }
}

/** Collects the problems of several readers, so one start-up names every wrong variable. */
export class ConfigProblems {
  private readonly lines: string[] = [];

  /** The reader's value, or undefined when it threw a ConfigError (its lines are kept). */
  read<T>(reader: () => T): T | undefined {
    try {
      return reader();
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      this.lines.push(...error.lines);
      return undefined;
    }
  }

  add(line: string): void {
    this.lines.push(line);
  }

  throwIfAny(): void {
    if (this.lines.length > 0) throw new ConfigError(this.lines);
  }
}

/** Runs every reader, even after one failed; throws one ConfigError with the lines of all that failed. */
export function readAll<T extends readonly unknown[]>(readers: { [K in keyof T]: () => T[K] }): T {
  const problems = new ConfigProblems();
  const values = readers.map((reader) => problems.read(reader));
  problems.throwIfAny();
  return values as unknown as T;
}
