/**
 * What to inject, as data. A spec is JSON (starts with `{`) or a compact string of `;`-separated
 * items, handy in an environment variable:
 *
 *   seed=42                                  seeds the random draws (same seed, same faults)
 *   *=0.2:throttling,500,503,timeout,reset,lost-response
 *                                            20% of every operation fails, kind drawn uniformly
 *   CreateThing|Attach*=0.1:lost-response    operations are globs separated by `|`
 *   CreateThing@plant-7=1:500#2              `@text`: only calls whose input mentions `text`;
 *                                            `#n`: at most n injections by this rule
 *   CreateThing@plant-7=delay:60000          latency before the call (AWS has not seen it yet)
 *   CreateThing@plant-7=delay-after:60000    latency after AWS answered (it has done the work)
 *   quota=aws-iot                            token buckets at the default AWS IoT quotas
 *   quota:CreatePolicy=10/s,burst=10         one token bucket (answers ThrottlingException)
 *   report=/tmp/faults.json                  counters written there (for child processes)
 *
 * Fault kinds: `throttling` (ThrottlingException, 429), `500` (InternalFailureException),
 * `503` (ServiceUnavailableException), `timeout` (TimeoutError, never sent), `reset`
 * (ECONNRESET, never sent), `lost-response` (sent and done at AWS, then the caller sees a
 * TimeoutError).
 */

export const FAULT_KINDS = ['throttling', '500', '503', 'timeout', 'reset', 'lost-response'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultRule {
  /** Operation name globs without the `Command` suffix (`CreateThing`, `List*`, `*`). */
  operations: string[];
  /** Only calls whose input (as JSON, PEM bodies decoded) contains this text. */
  match?: string | undefined;
  /** Probability in [0, 1] that a matching call is hit. */
  rate: number;
  /** Errors to draw from (uniformly); empty for a pure latency rule. */
  kinds: FaultKind[];
  /** Latency added to hit calls, before they are sent. */
  delayMs?: number | undefined;
  /** Latency added to hit calls after AWS answered, before the caller sees the answer. */
  delayAfterMs?: number | undefined;
  /** For `timeout`: how long the caller waits before the error (default 0). */
  timeoutMs?: number | undefined;
  /** At most this many injections by this rule; unlimited when absent. */
  times?: number | undefined;
}

export interface QuotaRule {
  /** Requests per second. */
  ratePerSecond: number;
  /** Bucket size; defaults to one second's worth. */
  burst?: number | undefined;
}

export interface FaultSpec {
  seed: number;
  rules: FaultRule[];
  /** Token buckets by operation name (exact, no globs). */
  quotas: Record<string, QuotaRule>;
  /** Counters are written to this file, at most once a second and on `flush()`. */
  reportFile?: string | undefined;
}

/**
 * Default AWS IoT Core control-plane quotas (requests per second, per account and region), the
 * ones the provisioning steps hit. https://docs.aws.amazon.com/general/latest/gr/iot-core.html
 */
export const AWS_IOT_QUOTAS: Readonly<Record<string, number>> = {
  CreatePolicy: 10,
  AttachPolicy: 15,
  UpdateCertificate: 10,
  DeleteCertificate: 10,
  DeletePolicy: 10,
  CreateThing: 100,
  AttachThingPrincipal: 100,
};

export const QUOTA_PRESETS: Readonly<Record<string, Readonly<Record<string, number>>>> = {
  'aws-iot': AWS_IOT_QUOTAS,
};

export class FaultSpecError extends Error {
  override readonly name = 'FaultSpecError';
}

function fail(message: string): never {
  throw new FaultSpecError(message);
}

function isKind(value: string): value is FaultKind {
  return (FAULT_KINDS as readonly string[]).includes(value);
}

function kindOf(raw: string, where: string): FaultKind {
  const value = raw.trim() === 'lost' ? 'lost-response' : raw.trim();
  if (!isKind(value))
    fail(`${where}: unknown fault kind ${JSON.stringify(raw)} (use ${FAULT_KINDS.join(', ')})`);
  return value;
}

function rateOf(value: unknown, where: string): number {
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0 || n > 1)
    fail(`${where}: rate must be a number from 0 to 1`);
  return n;
}

function nonNegative(value: unknown, where: string, what: string): number {
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) fail(`${where}: ${what} must be a number >= 0`);
  return n;
}

function positiveInt(value: unknown, where: string, what: string): number {
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1)
    fail(`${where}: ${what} must be a whole number >= 1`);
  return n;
}

const OPERATION_GLOB = /^[A-Za-z0-9*]+$/;

function operationsOf(raw: unknown, where: string): string[] {
  const list = Array.isArray(raw)
    ? raw
    : typeof raw === 'string'
      ? raw.split('|')
      : fail(`${where}: operation is missing`);
  const ops = list.map((op) =>
    String(op)
      .trim()
      .replace(/Command$/, ''),
  );
  if (ops.length === 0 || ops.some((op) => !OPERATION_GLOB.test(op))) {
    fail(`${where}: operations are names or globs like CreateThing, List* or * (got ${JSON.stringify(raw)})`);
  }
  return ops;
}

function quotaOf(value: unknown, where: string): QuotaRule {
  if (typeof value === 'number') return { ratePerSecond: positiveRate(value, where) };
  if (value && typeof value === 'object') {
    const { ratePerSecond, burst } = value as { ratePerSecond?: unknown; burst?: unknown };
    return {
      ratePerSecond: positiveRate(ratePerSecond, where),
      ...(burst === undefined ? {} : { burst: positiveInt(burst, where, 'burst') }),
    };
  }
  return fail(`${where}: a quota is a number of requests per second or { ratePerSecond, burst }`);
}

function positiveRate(value: unknown, where: string): number {
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0)
    fail(`${where}: requests per second must be > 0`);
  return n;
}

function presetQuotas(name: string, where: string): Record<string, QuotaRule> {
  const preset =
    QUOTA_PRESETS[name] ?? fail(`${where}: unknown quota preset ${JSON.stringify(name)} (use aws-iot)`);
  return Object.fromEntries(Object.entries(preset).map(([op, ratePerSecond]) => [op, { ratePerSecond }]));
}

function ruleFromJson(raw: unknown, index: number): FaultRule {
  const where = `faults[${index}]`;
  if (!raw || typeof raw !== 'object') fail(`${where}: expected an object`);
  const r = raw as Record<string, unknown>;
  const kindsRaw = r.kinds ?? r.kind ?? [];
  const kinds = (Array.isArray(kindsRaw) ? kindsRaw : [kindsRaw]).map((k) => kindOf(String(k), where));
  const rule: FaultRule = {
    operations: operationsOf(r.operation ?? r.operations, where),
    rate: r.rate === undefined ? 1 : rateOf(r.rate, where),
    kinds,
  };
  if (r.match !== undefined) rule.match = String(r.match);
  if (r.delayMs !== undefined) rule.delayMs = nonNegative(r.delayMs, where, 'delayMs');
  if (r.delayAfterMs !== undefined) rule.delayAfterMs = nonNegative(r.delayAfterMs, where, 'delayAfterMs');
  if (r.timeoutMs !== undefined) rule.timeoutMs = nonNegative(r.timeoutMs, where, 'timeoutMs');
  if (r.times !== undefined) rule.times = positiveInt(r.times, where, 'times');
  if (kinds.length === 0 && rule.delayMs === undefined && rule.delayAfterMs === undefined) {
    fail(`${where}: give kinds (errors) or delayMs / delayAfterMs (latency)`);
  }
  return rule;
}

function parseJson(text: string): FaultSpec {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    return fail(`not valid JSON: ${(error as Error).message}`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) fail('expected a JSON object');
  const r = raw as Record<string, unknown>;
  const rules =
    r.faults === undefined
      ? []
      : Array.isArray(r.faults)
        ? r.faults.map(ruleFromJson)
        : fail('faults must be an array');
  let quotas: Record<string, QuotaRule> = {};
  if (typeof r.quotas === 'string') quotas = presetQuotas(r.quotas, 'quotas');
  else if (r.quotas && typeof r.quotas === 'object') {
    for (const [op, q] of Object.entries(r.quotas as Record<string, unknown>)) {
      if (op === 'preset') quotas = { ...presetQuotas(String(q), 'quotas.preset'), ...quotas };
      else quotas[operationsOf(op, `quotas.${op}`)[0] ?? op] = quotaOf(q, `quotas.${op}`);
    }
  } else if (r.quotas !== undefined) fail('quotas must be a preset name or an object');
  return {
    seed: r.seed === undefined ? 1 : seedOf(r.seed),
    rules,
    quotas,
    ...(typeof r.reportFile === 'string' ? { reportFile: r.reportFile } : {}),
  };
}

function seedOf(value: unknown): number {
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n))
    fail(`seed must be a whole number (got ${JSON.stringify(value)})`);
  return n;
}

function parseCompactRule(target: string, action: string, where: string): FaultRule {
  const at = target.indexOf('@');
  const operations = operationsOf(at < 0 ? target : target.slice(0, at), where);
  const match = at < 0 ? undefined : target.slice(at + 1);
  let body = action;
  let times: number | undefined;
  const hash = body.lastIndexOf('#');
  if (hash >= 0) {
    times = positiveInt(body.slice(hash + 1), where, 'the count after #');
    body = body.slice(0, hash);
  }
  const colon = body.indexOf(':');
  if (colon < 0) fail(`${where}: expected RATE:KINDS, delay:MS or delay-after:MS after "="`);
  const head = body.slice(0, colon).trim();
  const tail = body.slice(colon + 1).trim();
  const base = { operations, ...(match ? { match } : {}), ...(times ? { times } : {}) };
  if (head === 'delay') return { ...base, rate: 1, kinds: [], delayMs: nonNegative(tail, where, 'delay') };
  if (head === 'delay-after')
    return { ...base, rate: 1, kinds: [], delayAfterMs: nonNegative(tail, where, 'delay-after') };
  const kinds = tail.split(',').map((k) => kindOf(k, where));
  return { ...base, rate: rateOf(head, where), kinds };
}

function parseCompact(text: string): FaultSpec {
  const spec: FaultSpec = { seed: 1, rules: [], quotas: {} };
  const items = text
    .split(';')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const [i, item] of items.entries()) {
    const where = `item ${i + 1} (${JSON.stringify(item)})`;
    const eq = item.indexOf('=');
    if (eq < 0) fail(`${where}: expected NAME=VALUE`);
    const name = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    if (name === 'seed') spec.seed = seedOf(value);
    else if (name === 'report') spec.reportFile = value;
    else if (name === 'quota') spec.quotas = { ...presetQuotas(value, where), ...spec.quotas };
    else if (name.startsWith('quota:')) {
      const [rate = '', ...options] = value.split(',');
      const burstOption = options.find((o) => o.trim().startsWith('burst='));
      const op = operationsOf(name.slice('quota:'.length), where)[0] ?? '';
      if (op.includes('*')) fail(`${where}: a quota names one operation, not a glob`);
      spec.quotas[op] = {
        ratePerSecond: positiveRate(rate.replace(/\/s$/, ''), where),
        ...(burstOption
          ? { burst: positiveInt(burstOption.trim().slice('burst='.length), where, 'burst') }
          : {}),
      };
    } else spec.rules.push(parseCompactRule(name, value, where));
  }
  return spec;
}

/** Parses a spec; throws FaultSpecError naming the offending item. */
export function parseFaultSpec(text: string): FaultSpec {
  const trimmed = text.trim();
  if (!trimmed) fail('the fault spec is empty');
  return trimmed.startsWith('{') ? parseJson(trimmed) : parseCompact(trimmed);
}

/** `*` matches any run of characters; everything else literally. */
export function operationMatches(glob: string, operation: string): boolean {
  if (glob === '*') return true;
  if (!glob.includes('*')) return glob === operation;
  const pattern = new RegExp(`^${glob.split('*').map(escapeRegExp).join('.*')}$`);
  return pattern.test(operation);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
