/**
 * The alert rules and the Prometheus configuration of deploy/prometheus, checked and unit-tested
 * by promtool (issue 18, item 2): `promtool test rules` runs alerts.test.yml, whose cases make
 * every alert fire on its condition and stay quiet on a shorter or smaller one. promtool comes
 * from Debian's `prometheus` package (.ci/run installs it when missing) or PROMTOOL.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { metricsOfExpression } from '../support/promql-names.js';

const DIR = resolve(import.meta.dirname, '..', '..', 'deploy', 'prometheus');

function promtool(): string {
  const configured = process.env.PROMTOOL?.trim();
  if (configured) return configured;
  const found = spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' }).stdout.trim();
  if (!found) {
    throw new Error(
      'promtool not found: apt-get install --no-install-recommends prometheus (Debian), or set PROMTOOL to its path',
    );
  }
  return found;
}

function run(...args: string[]): string {
  try {
    return execFileSync(promtool(), args, { cwd: DIR, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string };
    throw new Error(`promtool ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

describe('deploy/prometheus', () => {
  it('has valid rules and a valid configuration', () => {
    expect(run('check', 'rules', 'alerts.yml')).toMatch(/SUCCESS: \d+ rules found/);
    expect(run('check', 'config', 'prometheus.yml')).toMatch(/SUCCESS/);
  });

  it('passes the unit tests of the alert rules (promtool test rules)', () => {
    expect(run('test', 'rules', 'alerts.test.yml')).toMatch(/SUCCESS/);
  });

  it('tests every alert it defines', () => {
    const rules = parse(readFileSync(join(DIR, 'alerts.yml'), 'utf8')) as {
      groups: { rules: { alert?: string }[] }[];
    };
    const tests = parse(readFileSync(join(DIR, 'alerts.test.yml'), 'utf8')) as {
      tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
    };
    const alerts = rules.groups.flatMap((g) => g.rules.flatMap((r) => (r.alert ? [r.alert] : [])));
    const firing = new Set(
      tests.tests.flatMap((t) =>
        (t.alert_rule_test ?? []).filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname),
      ),
    );
    expect(alerts.filter((a) => !firing.has(a))).toEqual([]);
  });
});

describe('the actions the alerts name', () => {
  it('are commands the production image runs: no tsx (a development dependency), node dist/... that exists', () => {
    const rules = parse(readFileSync(join(DIR, 'alerts.yml'), 'utf8')) as {
      groups: { rules: { alert?: string; annotations?: Record<string, string> }[] }[];
    };
    const commands = rules.groups.flatMap((g) =>
      g.rules.flatMap((r) =>
        Object.values(r.annotations ?? {}).flatMap((text) =>
          [...text.matchAll(/`([^`]+)`/g)].map((m) => ({ alert: r.alert, command: m[1] ?? '' })),
        ),
      ),
    );
    expect(commands.filter((c) => /^(npx )?tsx\b/.test(c.command))).toEqual([]);
    const src = resolve(DIR, '..', '..', 'src');
    const missing = commands.filter((c) => {
      const compiled = /^node dist\/(\S+)\.js\b/.exec(c.command)?.[1];
      return compiled !== undefined && !existsSync(join(src, `${compiled}.ts`));
    });
    expect(missing).toEqual([]);
  });
});

describe('metric names of a PromQL expression (what the dashboard check reads)', () => {
  it('finds the metrics, not the functions, labels, ranges, keywords or Grafana variables', () => {
    expect(
      metricsOfExpression(
        'sum by (service, operation) (rate(solar_iot_aws_calls_total{outcome="throttled", x=~"a|b"}[5m])) ' +
          '/ on (service) group_left sum without (instance) (rate(solar_iot_aws_calls_total[$__rate_interval] offset 1h))' +
          ' > 0.05 and histogram_quantile(0.95, sum by (le) (rate(ingest_batch_duration_seconds_bucket[5m]))) > 1e3' +
          ' or max(up{job=~"solar-iot-.*"}) == bool 0',
      ).sort(),
    ).toEqual(['ingest_batch_duration_seconds_bucket', 'solar_iot_aws_calls_total', 'up']);
  });
});
