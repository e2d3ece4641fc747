/**
 * `solar-iot dead-letters`: how many deliveries the telemetry rules could not make wait in their
 * dead-letter queue (the service's getDeadLetters, as GET /telemetry/dead-letters answers it).
 */
import type { Command } from 'commander';
import type { CliContext } from './context.js';

export function addDeadLetterCommand(program: Command, { session, out }: CliContext): void {
  program
    .command('dead-letters')
    .description(
      "failed telemetry rule deliveries waiting in the rules' dead-letter queue (AWS_SQS_DEAD_LETTER_QUEUE_URL)",
    )
    .action(async () => {
      const depth = await (await session.open()).getDeadLetters();
      out().result(depth, () => {
        const lines = [
          `${depth.messages} failed deliveries waiting in ${depth.queueUrl}` +
            (depth.inFlight ? ` (${depth.inFlight} more received, not yet deleted)` : ''),
        ];
        if (depth.messages > 0)
          lines.push('What they hold and how to send them on: README "Failed rule deliveries"');
        return lines.join('\n');
      });
    });
}
