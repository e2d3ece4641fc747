/** What the fleet chaos test reads back: retried activities, and PostgreSQL connections by program. */
import type { Client } from '@temporalio/client';
import type pg from 'pg';

export interface RetriedActivity {
  workflowId: string;
  activity: string;
  attempt: number;
}

/** Each activity whose last start was a retry (attempt 2 or more). */
export async function retriedActivities(
  client: Client,
  workflowIds: readonly string[],
): Promise<RetriedActivity[]> {
  const out: RetriedActivity[] = [];
  for (const workflowId of workflowIds) {
    const events = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
    const types = new Map<string, string>();
    for (const event of events) {
      const scheduled = event.activityTaskScheduledEventAttributes;
      if (scheduled) types.set(String(event.eventId), scheduled.activityType?.name ?? '?');
      const started = event.activityTaskStartedEventAttributes;
      if (started && (started.attempt ?? 1) > 1)
        out.push({
          workflowId,
          activity: types.get(String(started.scheduledEventId)) ?? '?',
          attempt: started.attempt ?? 0,
        });
    }
  }
  return out;
}

/** The most connections to the database seen at once, in all and by `application_name`. */
export class PeakConnections {
  private total = 0;
  private readonly byProgram = new Map<string, number>();

  constructor(private readonly pool: pg.Pool) {}

  async sample(): Promise<void> {
    const { rows } = await this.pool.query<{ program: string; n: number }>(
      `SELECT coalesce(nullif(application_name, ''), '(none)') AS program, count(*)::int AS n
         FROM pg_stat_activity WHERE datname = current_database() GROUP BY 1`,
    );
    this.total = Math.max(
      this.total,
      rows.reduce((sum, r) => sum + r.n, 0),
    );
    for (const r of rows) this.byProgram.set(r.program, Math.max(this.byProgram.get(r.program) ?? 0, r.n));
  }

  describe(): string {
    const parts = [...this.byProgram].sort().map(([program, n]) => `${program} ${n}`);
    return `${this.total} (${parts.join(', ')})`;
  }
}
