/**
 * The metric names a PromQL expression reads, and the expressions of the Grafana dashboard and of
 * the Prometheus rule files, so a test can check each name against what the processes export.
 * PromQL is read lexically, not parsed: strings, label matchers and lists, ranges and Grafana
 * variables are dropped; what is left of the identifiers, minus functions (followed by `(`) and
 * keywords, are metric names.
 */
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';

const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'inf',
  'nan',
]);

export function metricsOfExpression(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""') // strings
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ') // label lists
    .replace(/\[[^\]]*\]/g, ' ') // ranges and subqueries
    .replace(/\$\{[^}]*\}|\$[A-Za-z_]\w*/g, ' '); // Grafana variables
  const names = new Set<string>();
  for (const m of bare.matchAll(/(?<![\w:.])[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const name = m[0];
    const isCall = /^\s*\(/.test(bare.slice((m.index ?? 0) + name.length));
    if (!isCall && !KEYWORDS.has(name.toLowerCase())) names.add(name);
  }
  return [...names];
}

export interface Expression {
  /** Where it is: the panel's title or the rule's name. */
  where: string;
  expr: string;
}

interface Panel {
  title?: string;
  targets?: { expr?: string }[];
  panels?: Panel[];
}

export async function dashboardExpressions(path: string): Promise<Expression[]> {
  const dashboard = JSON.parse(await readFile(path, 'utf8')) as {
    panels?: Panel[];
    templating?: { list?: { name?: string; query?: string | { query?: string } }[] };
  };
  const out: Expression[] = [];
  const visit = (panels: Panel[] = []) => {
    for (const panel of panels) {
      for (const target of panel.targets ?? [])
        if (target.expr) out.push({ where: `panel ${panel.title ?? '?'}`, expr: target.expr });
      visit(panel.panels);
    }
  };
  visit(dashboard.panels);
  for (const variable of dashboard.templating?.list ?? []) {
    const query = typeof variable.query === 'string' ? variable.query : variable.query?.query;
    // label_values(metric, label): the metric is read as well.
    const metric = /label_values\(\s*([a-zA-Z_:][\w:]*)/.exec(query ?? '')?.[1];
    if (metric) out.push({ where: `variable ${variable.name ?? '?'}`, expr: metric });
  }
  return out;
}

export async function ruleExpressions(path: string): Promise<Expression[]> {
  const file = parse(await readFile(path, 'utf8')) as {
    groups: { rules: { alert?: string; record?: string; expr: string }[] }[];
  };
  return file.groups.flatMap((g) =>
    g.rules.map((r) => ({ where: `rule ${r.alert ?? r.record}`, expr: String(r.expr) })),
  );
}
