/**
 * `solar-iot telemetry <plantId>`: a plant's readings as a compact table, one row per device and
 * metric over the range, with a sparkline of the bucket averages when stdout is a terminal.
 */
import type { Command } from 'commander';
import type { ApiClient } from '../api-client/client.js';
import { durationSeconds } from '../service/durations.js';
import type { LatestTelemetryView, TelemetrySeries, TelemetryView } from '../service/telemetry.js';
import type { CliIo } from './io.js';
import { type Output, table } from './output.js';

const SPARKS = '▁▂▃▄▅▆▇█';
/** Characters of a sparkline at most; more buckets are averaged together. */
const SPARKLINE_WIDTH = 60;

/** `6h` means six hours ago; anything else goes to the library as a date-time. */
export function pointInTime(value: string, now = Date.now()): string {
  const seconds = durationSeconds(value);
  return seconds === null ? value : new Date(now - seconds * 1_000).toISOString();
}

/** One character per bucket (or group of buckets), scaled between the lowest and highest average. */
export function sparkline(
  series: TelemetrySeries,
  view: Pick<TelemetryView, 'from' | 'to' | 'bucketSeconds'>,
): string {
  const size = view.bucketSeconds * 1_000;
  const first = Math.floor(Date.parse(view.from) / size);
  const buckets = Math.floor((Date.parse(view.to) - 1) / size) - first + 1;
  const group = Math.ceil(buckets / SPARKLINE_WIDTH);
  // Running means, not sums, and halves when scaling: readings near Number.MAX_VALUE overflowed
  // the sum to Infinity and the line showed "undefined".
  const means = new Map<number, { mean: number; count: number }>();
  for (const p of series.points) {
    const slot = Math.floor((Math.floor(Date.parse(p.start) / size) - first) / group);
    const acc = means.get(slot) ?? { mean: 0, count: 0 };
    const count = acc.count + p.count;
    acc.mean = acc.mean * (acc.count / count) + p.avg * (p.count / count);
    acc.count = count;
    means.set(slot, acc);
  }
  const averages = [...means.values()].map((a) => a.mean);
  const low = Math.min(...averages);
  const high = Math.max(...averages);
  let line = '';
  for (let slot = 0; slot < Math.ceil(buckets / group); slot++) {
    const acc = means.get(slot);
    if (!acc) line += ' ';
    else if (high === low) line += SPARKS[3];
    else {
      const position = (acc.mean / 2 - low / 2) / (high / 2 - low / 2);
      line += SPARKS[Math.round(position * (SPARKS.length - 1))];
    }
  }
  return line;
}

const num = (n: number) => String(Number(n.toPrecision(6)));

export function telemetryTable(view: TelemetryView, sparklines: boolean): string {
  const head = [
    'DEVICE',
    'METRIC',
    'LAST',
    'MIN',
    'AVG',
    'MAX',
    'READINGS',
    ...(sparklines ? ['TREND'] : []),
  ];
  const rows = view.series.map((s) => {
    const count = s.points.reduce((n, p) => n + p.count, 0);
    // Weighted by each bucket's share, not summed first: near Number.MAX_VALUE a sum is Infinity.
    const avg = s.points.reduce((n, p) => n + p.avg * (p.count / count), 0);
    return [
      s.deviceId,
      s.metric,
      num(s.points.at(-1)?.last ?? Number.NaN),
      num(Math.min(...s.points.map((p) => p.min))),
      num(avg),
      num(Math.max(...s.points.map((p) => p.max))),
      count,
      ...(sparklines ? [sparkline(s, view)] : []),
    ];
  });
  const title = `${view.plantId}: ${view.from} .. ${view.to}, ${view.bucket} buckets`;
  if (rows.length === 0) return `${title}\nNo readings in this range.`;
  return `${title}\n${table(head, rows)}`;
}

export function latestTable(view: LatestTelemetryView): string {
  if (view.devices.length === 0) return `${view.plantId}: no readings yet.`;
  return table(
    ['DEVICE', 'METRIC', 'VALUE', 'AT'],
    view.devices.flatMap((d) => d.metrics.map((m) => [d.deviceId, m.metric, num(m.value), m.timestamp])),
  );
}

export function telemetryCommand(
  program: Command,
  io: CliIo,
  session: { open(): Promise<ApiClient> },
  out: () => Output,
): void {
  program
    .command('telemetry')
    .description("a plant's readings per device and metric: last, min, avg, max over a range, with a trend")
    .argument('<plantId>')
    .option('--metric <name>', 'one metric only, e.g. power_ac')
    .option('--device <id>', 'one device only, e.g. inverter-01')
    .option('--from <time>', 'start: ISO 8601 date-time, or a duration ago (6h, 7d); default 24h before --to')
    .option('--to <time>', 'end: ISO 8601 date-time, or a duration ago; default now')
    .option('--bucket <size>', 'bucket size (30s, 5m, 1h, 1d); default at most 60 buckets')
    .option('--latest', 'the latest value of every metric per device instead')
    .action(
      async (
        plantId: string,
        opts: {
          metric?: string;
          device?: string;
          from?: string;
          to?: string;
          bucket?: string;
          latest?: boolean;
        },
      ) => {
        const iot = await session.open();
        if (opts.latest) {
          const latest = await iot.getLatestTelemetry(plantId);
          out().result(latest, () => latestTable(latest));
          return;
        }
        const now = Date.now();
        const view = await iot.getTelemetry(plantId, {
          metric: opts.metric,
          device: opts.device,
          from: opts.from === undefined ? undefined : pointInTime(opts.from, now),
          to: opts.to === undefined ? undefined : pointInTime(opts.to, now),
          bucket: opts.bucket,
        });
        out().result(view, () => telemetryTable(view, Boolean(io.stdout.isTTY)));
      },
    );
}
