/** Human output (tables, progress bars) or JSON for scripts, chosen by --json. */
import { SingleBar } from 'cli-progress';
import Table from 'cli-table3';
import type { OperationView } from '../service/operations.js';
import type { PlantView } from '../service/plants.js';
import type { CliIo } from './io.js';

/** What a terminal would interpret: C0 and C1 controls (ESC, CSI, BEL...), DEL, bidi overrides. */
const CONTROL = /[\p{Cc}\u202a-\u202e\u2066-\u2069]/gu;

/**
 * Data from the database or AWS (a plant name, an error message) shown as `\u001b` instead of
 * reaching the terminal raw, where an escape sequence could retitle the window or rewrite the
 * screen. Newlines stay unless `cell` (a table cell is one line).
 */
export function printable(text: string, cell = false): string {
  return text.replace(CONTROL, (c) =>
    c === '\n' && !cell ? c : `\\u${(c.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`,
  );
}

/** What CONTROL holds beyond C0, which JSON.stringify escapes itself (its own newlines indent). */
const NOT_ESCAPED_BY_JSON = /[\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/**
 * JSON for stdout/stderr: JSON.stringify escapes C0 controls only, so DEL, C1 (\u009b is CSI)
 * and bidi overrides would reach the terminal raw; they can only occur inside strings, where
 * the escape `\uXXXX` is the same JSON value.
 */
export function safeJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(
    NOT_ESCAPED_BY_JSON,
    (c) => `\\u${(c.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`,
  );
}

export class Output {
  constructor(
    private readonly io: CliIo,
    readonly json: boolean,
  ) {}

  /** The command's result: JSON on stdout with --json, else the human rendering. */
  result(value: unknown, human: () => string): void {
    this.io.stdout.write(this.json ? `${safeJson(value, 2)}\n` : `${printable(human())}\n`);
  }

  /** Progress notes for people; never mixed into JSON output. */
  note(text: string): void {
    if (!this.json) this.io.stderr.write(`${printable(text)}\n`);
  }

  /** A risk the command runs with: on stderr, as JSON with --json (one object a line, as errors). */
  warn(code: string, message: string): void {
    this.io.stderr.write(
      this.json ? `${safeJson({ warning: { code, message } })}\n` : `warning: ${printable(message)}\n`,
    );
  }

  error(code: string, message: string): void {
    this.io.stderr.write(
      this.json ? `${safeJson({ error: { code, message } })}\n` : `error: ${printable(message)}\n`,
    );
  }

  /** A progress bar on an interactive stderr (not with --json); a no-op otherwise. */
  progress(total: number, label: string): Progress {
    if (this.json || !this.io.stderr.isTTY) return { update() {}, stop() {} };
    const bar = new SingleBar({
      format: `${label} [{bar}] {value}/{total} {detail}`,
      stream: this.io.stderr as NodeJS.WritableStream,
      hideCursor: true,
      clearOnComplete: false,
    });
    bar.start(total, 0, { detail: '' });
    return {
      update(value, detail = '', newTotal) {
        if (newTotal !== undefined) bar.setTotal(newTotal);
        bar.update(value, { detail });
      },
      stop() {
        bar.stop();
      },
    };
  }
}

export interface Progress {
  update(value: number, detail?: string, total?: number): void;
  stop(): void;
}

export function table(head: string[], rows: (string | number | null | undefined)[][]): string {
  const t = new Table({ head, style: { head: [], border: [] }, wordWrap: true });
  for (const row of rows)
    t.push(row.map((cell) => (cell === null || cell === undefined ? '-' : printable(String(cell), true))));
  return t.toString();
}

export function keyValues(pairs: [string, string | number | null | undefined][]): string {
  const t = new Table({ style: { head: [], border: [] }, wordWrap: true });
  for (const [k, v] of pairs)
    t.push({ [k]: v === null || v === undefined || v === '' ? '-' : printable(String(v), true) });
  return t.toString();
}

export function truncate(text: string | null, max = 60): string | null {
  if (text === null) return null;
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export function plantDetails(plant: PlantView, operation: OperationView | null, iotMode: string): string {
  const lines = keyValues([
    ['id', plant.id],
    ['name', plant.name],
    ['iot status', plant.iotStatus],
    ['iot mode', iotMode],
    ['thing', plant.thingName],
    ['certificate', plant.certificateId],
    ['certificate mode', plant.certificateMode],
    ['policy', plant.policyName],
    ['rule', plant.ruleName],
    ['last error', plant.lastError],
    ['created', plant.createdAt],
    ['provisioned', plant.provisionedAt],
    ['deprovisioned', plant.deprovisionedAt],
  ]);
  if (!operation) return `${lines}\nNo provisioning operation has run.`;
  const op = keyValues([
    ['operation', `${operation.kind} (${operation.state})`],
    ['workflow', `${operation.workflowId} / ${operation.runId}`],
    ['started', operation.startedAt],
    ['closed', operation.closedAt],
    ['current step', operation.currentStep],
    ['steps done', operation.stepsDone.join(', ')],
    ...(operation.removed ? [['removed', operation.removed.join(', ')] as [string, string]] : []),
  ]);
  return `${lines}\n${op}`;
}
