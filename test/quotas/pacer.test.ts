import { describe, expect, it } from 'vitest';
import { DEFAULT_QUOTAS } from '../../src/quotas/classes.js';
import { StartPacer } from '../../src/quotas/pacer.js';
import { quotaQueueLimits, readQuotaUtilization } from '../../src/quotas/settings.js';

/** A clock the test moves: sleep() advances it by the requested time plus a chosen lateness. */
function fakeClock(late: (ms: number) => number = () => 0) {
  let now = 1000;
  return {
    now: () => now,
    sleep: async (ms: number) => {
      now += ms + late(ms);
    },
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('StartPacer', () => {
  it('spaces starts one interval apart, however many arrive together', async () => {
    const clock = fakeClock();
    const pacer = new StartPacer(2, clock.now, clock.sleep);
    const starts: number[] = [];
    await Promise.all(Array.from({ length: 5 }, () => pacer.turn().then(() => starts.push(clock.now()))));
    expect(starts.map((t) => t - (starts[0] ?? 0))).toEqual([0, 500, 1000, 1500, 2000]);
  });

  it('lets an idle pacer start at once', async () => {
    const clock = fakeClock();
    const pacer = new StartPacer(2, clock.now, clock.sleep);
    await pacer.turn();
    clock.advance(3000);
    const before = clock.now();
    await pacer.turn();
    expect(clock.now()).toBe(before);
  });

  it('makes up at most half an interval after a late timer, so starts never clump', async () => {
    // Every sleep ends 400 ms late (a stalled event loop).
    const clock = fakeClock(() => 400);
    const pacer = new StartPacer(2, clock.now, clock.sleep);
    const starts: number[] = [];
    await Promise.all(Array.from({ length: 4 }, () => pacer.turn().then(() => starts.push(clock.now()))));
    const gaps = starts.slice(1).map((t, i) => t - (starts[i] ?? 0));
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(250);
  });
});

describe('quota queue limits', () => {
  it('are the quotas times the utilization, 0.95 by default', () => {
    expect(readQuotaUtilization({})).toBe(0.95);
    expect(quotaQueueLimits(DEFAULT_QUOTAS, 0.95).CreatePolicy).toBe(9.5);
    expect(quotaQueueLimits(DEFAULT_QUOTAS, 1).AttachPolicy).toBe(15);
  });

  it('refuse a utilization outside (0, 1], naming the variable', () => {
    expect(() => readQuotaUtilization({ SOLAR_IOT_QUOTA_UTILIZATION: '1.5' })).toThrow(
      /SOLAR_IOT_QUOTA_UTILIZATION="1.5"/,
    );
    expect(() => readQuotaUtilization({ SOLAR_IOT_QUOTA_UTILIZATION: '0' })).toThrow(/\(0, 1\]/);
  });
});
