/**
 * `solar-iot certificates aging`: active plants on a certificate older than an age (default
 * CERTIFICATE_MAX_AGE_DAYS), oldest first: the plants to rotate on request while automatic
 * rotation is off (the default).
 */
import type { Command } from 'commander';
import { MAX_AGING_LIMIT, MAX_CERTIFICATE_AGE_DAYS } from '../service/certificate-age.js';
import { type CliContext, positiveInt } from './context.js';
import { table } from './output.js';

export function addCertificateCommands(program: Command, { session, out }: CliContext): void {
  const certificates = program.command('certificates').description('the plants’ device certificates');
  certificates
    .command('aging')
    .description(
      'active plants whose certificate is older than --older-than-days (default CERTIFICATE_MAX_AGE_DAYS), oldest first',
    )
    .option(
      '--older-than-days <n>',
      `age in days (1 to ${MAX_CERTIFICATE_AGE_DAYS})`,
      positiveInt('--older-than-days', MAX_CERTIFICATE_AGE_DAYS),
    )
    .option(
      '--limit <n>',
      `certificates listed at most (1 to ${MAX_AGING_LIMIT}, default 100)`,
      positiveInt('--limit', MAX_AGING_LIMIT),
    )
    .action(async (opts: { olderThanDays?: number; limit?: number }) => {
      const iot = await session.open();
      const report = await iot.listAgingCertificates({
        olderThanDays: opts.olderThanDays,
        limit: opts.limit,
      });
      out().result(report, () => {
        const rendered = table(
          ['PLANT', 'NAME', 'CERTIFICATE', 'ACTIVATED', 'AGE (DAYS)'],
          report.certificates.map((c) => [c.plantId, c.plantName, c.certificateId, c.activatedAt, c.ageDays]),
        );
        const shown =
          report.total > report.certificates.length ? ` (${report.certificates.length} shown)` : '';
        const hint = report.total > 0 ? '\nRotate one: solar-iot rotate <PLANT> --grace-period 7d' : '';
        return `${rendered}\n${report.total} certificate(s) older than ${report.olderThanDays} days${shown}${hint}`;
      });
    });
}
