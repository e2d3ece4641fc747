/**
 * Certificate mode device-csr in the CLI: `--device-csr [--csr-timeout 7d]` on `plants create` and
 * `provision`, and `solar-iot csr <plantId> <file>`, which sends the device's CSR and prints the
 * certificate of its key. No private key passes through here.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { InvalidInputError } from '../service/errors.js';
import type { CliContext } from './context.js';

export interface DeviceCsrOptions {
  deviceCsr?: boolean;
  csrTimeout?: string;
}

export const DEVICE_CSR_OPTION = [
  '--device-csr',
  'the device makes its own key: after the thing, wait for its CSR (`solar-iot csr`) instead of making a key here',
] as const;

export const CSR_TIMEOUT_OPTION = [
  '--csr-timeout <duration>',
  'with --device-csr: how long to wait for the CSR before rolling back (30m, 36h, 7d; default 7d)',
] as const;

export function certificateChoiceOf(opts: DeviceCsrOptions) {
  return {
    ...(opts.deviceCsr ? { certificateMode: 'device-csr' as const } : {}),
    ...(opts.csrTimeout !== undefined ? { csrTimeout: opts.csrTimeout } : {}),
  };
}

export function awaitingCsrHint(plantId: string, opts: DeviceCsrOptions): string {
  return opts.deviceCsr
    ? `\nIt waits for the device's CSR (CN=solar-plant-${plantId}): solar-iot csr ${plantId} <file.csr>`
    : '';
}

/** The CSR file's text, or a usage error naming the file (never its content). */
async function csrFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new InvalidInputError(`Cannot read the CSR file ${path}: ${(error as NodeJS.ErrnoException).code}`);
  }
}

export function addCsrCommand(program: Command, { session, out }: CliContext): void {
  program
    .command('csr')
    .description(
      "send the CSR of a plant provisioned with --device-csr; prints the certificate of the device's key (PEM)",
    )
    .argument('<plantId>')
    .argument('<file>', 'the PEM CSR the device made (-----BEGIN CERTIFICATE REQUEST-----)')
    .action(async (plantId: string, file: string) => {
      const csrPem = await csrFile(file);
      const iot = await session.open();
      const issued = await iot.submitDeviceCsr(plantId, csrPem);
      out().result(issued, () =>
        (issued.certificatePem ?? `certificate ${issued.certificateId} (mock mode: no PEM)`).trimEnd(),
      );
    });
}
