/** `solar-iot keygen`: a new ENCRYPTION_KEY for the operator's configuration; needs no service. */
import type { Command } from 'commander';
import { generateEncryptionKey } from '../crypto/encryption.js';
import type { CliContext } from './context.js';

export function addKeygenCommand(program: Command, { out }: CliContext): void {
  program
    .command('keygen')
    .description('print a new random ENCRYPTION_KEY (64 hex characters)')
    .action(() => {
      const key = generateEncryptionKey();
      out().result({ key }, () => key);
    });
}
