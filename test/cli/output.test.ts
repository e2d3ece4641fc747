/**
 * What the CLI prints for people never carries a raw control character from stored data: a plant
 * name with terminal escape sequences (stored before names were checked, or written to the
 * database by something else) shows escaped, not interpreted by the terminal.
 */
import { describe, expect, it } from 'vitest';
import { keyValues, Output, table } from '../../src/cli/output.js';

const HOSTILE = 'Rooftop \u001b]0;owned\u0007\u001b[2J\u001b[31mALERT\u009b1m\u202eevil\u0000';
// Nothing a terminal interprets (line breaks aside): C0, DEL, C1, bidi overrides.
const CONTROL = /[\p{Cc}\u202a-\u202e\u2066-\u2069]/u;
const rawControlIn = (text: string) => CONTROL.exec(text.replace(/\n/g, ''))?.[0] ?? null;

/** An Output writing to a terminal, and what it wrote there. */
function onTerminal(json: boolean) {
  const written = { stdout: '', stderr: '' };
  const io = {
    stdout: { write: (s: string) => (written.stdout += s), isTTY: true },
    stderr: { write: (s: string) => (written.stderr += s), isTTY: true },
    env: {},
  };
  return { out: new Output(io, json), written };
}

describe('CLI output escapes control characters', () => {
  it('in tables and key/value lists', () => {
    const rendered = [table(['id', 'name'], [['p-1', HOSTILE]]), keyValues([['name', HOSTILE]])];
    for (const text of rendered) {
      expect(rawControlIn(text)).toBeNull();
      expect(text).toContain('\\u001b[31mALERT');
    }
  });

  it('in results, notes and errors (human mode), keeping line breaks', () => {
    const { out, written } = onTerminal(false);
    out.result({}, () => `Plant ${HOSTILE} created\nnext line`);
    out.note(`note ${HOSTILE}`);
    out.error('x', `error ${HOSTILE}`);
    for (const text of Object.values(written)) expect(rawControlIn(text)).toBeNull();
    expect(written.stdout).toContain('created\nnext line');
  });

  it('in JSON output too (--json): C1 controls and bidi overrides escaped, still the same JSON', () => {
    const { out, written } = onTerminal(true);
    out.result({ name: HOSTILE }, () => '');
    out.error('x', `error ${HOSTILE}`);
    // JSON.stringify escapes C0 only: \u009b (CSI) and \u202e went out raw.
    for (const text of Object.values(written)) expect(rawControlIn(text)).toBeNull();
    expect(JSON.parse(written.stdout)).toEqual({ name: HOSTILE });
    expect(JSON.parse(written.stderr)).toEqual({ error: { code: 'x', message: `error ${HOSTILE}` } });
  });
});
