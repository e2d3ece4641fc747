/**
 * Credential hand-over: the ONLY code path that turns a stored private key back into clear text.
 *
 *   solar-iot export-credentials <plantId> <directory> [--endpoint <ats-host>]
 *                                [--emulator-certificate]  (moto: its certificate is not of our key)
 *
 * Writes the plant's device bundle for the installer into a new directory, or an empty one the
 * caller owns that is not a symbolic link, mode 0700, every file mode 0600 and created exclusively
 * (O_EXCL | O_NOFOLLOW: never through an existing file or link):
 *
 *   certificate.pem.crt   the plant's current certificate
 *   private.pem.key       its private key, decrypted; not for a plant in certificate mode device-csr,
 *                         whose device made its own key and sent only a CSR (device.json says so)
 *   AmazonRootCA1.pem     the CA the device verifies the ATS endpoint with
 *   device.json           endpoint, port, client id (= thing name), topics (its shadow's included),
 *                         file names
 *
 * and records the export time on the certificate (`exported_at`). Prints file names, never content.
 */
import { constants as fsConstants } from 'node:fs';
import { chmod, lstat, mkdir, open, readdir, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { DescribeEndpointCommand } from '@aws-sdk/client-iot';
import { eq } from 'drizzle-orm';
import type { KeyVault } from '../activities/deps.js';
import { openAwsClients } from '../app/clients.js';
import type { Config } from '../config/index.js';
import type { Db } from '../db/client.js';
import { certificates, plants } from '../db/schema.js';
import type { AwsClientsOptions } from '../iot/clients.js';
import { publicKeyFingerprintOfCertificate, publicKeyFingerprintOfKey } from '../iot/device-keys.js';
import { commandTopicFor, telemetryTopicFor } from '../iot/naming.js';
import { deviceShadowTopics } from '../iot/policy-document.js';
import { AMAZON_ROOT_CA_1_PEM } from './amazon-root-ca.js';

export const BUNDLE_FILES = {
  certificate: 'certificate.pem.crt',
  privateKey: 'private.pem.key',
  rootCa: 'AmazonRootCA1.pem',
  device: 'device.json',
} as const;

/** What device.json says of a device-csr plant's key, in place of a key file. */
const KEY_ON_DEVICE =
  'held by the device: it made its own key and sent a CSR (certificate mode device-csr); solar-iot never saw it, so this bundle holds none';

/** A bundle cannot be exported; the message says why and what to do. Never holds key material. */
export class ExportError extends Error {
  override readonly name = 'ExportError';
}

export interface ExportOptions {
  db: Db;
  vault: KeyVault;
  plantId: string;
  directory: string;
  /** The ATS data endpoint host devices connect to. */
  endpoint: string;
  /**
   * Refuse a key that does not belong to the certificate (default true). Only for emulators:
   * moto signs a CSR with a key of its own, so its certificates never match our key.
   */
  checkKeyMatches?: boolean;
  now?: () => Date;
}

/** What the caller learns: where the files are. Deliberately no key, no PEM. */
export interface ExportResult {
  directory: string;
  files: string[];
  /** False for a device-csr plant: its key never left the device, so the bundle has none. */
  privateKeyIncluded: boolean;
  thingName: string;
  certificateId: string;
  exportedAt: Date;
}

/**
 * The bundle's directory: created (0700), or an existing one that is empty, a real directory (not
 * a symbolic link to one) and owned by the caller. Anyone else who owns it, or a link inside it,
 * could read, replace or redirect the private key once it is written.
 */
async function prepareDirectory(directory: string): Promise<void> {
  await mkdir(dirname(directory), { recursive: true, mode: 0o700 });
  try {
    await mkdir(directory, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const existing = await lstat(directory);
  if (existing.isSymbolicLink()) {
    throw new ExportError(
      `${directory} is a symbolic link; give the real path of a directory you own (a link could point the key elsewhere)`,
    );
  }
  if (!existing.isDirectory()) throw new ExportError(`${directory} exists and is not a directory`);
  const uid = process.getuid?.();
  if (uid !== undefined && existing.uid !== uid) {
    throw new ExportError(
      `${directory} is owned by uid ${existing.uid}, not by you (uid ${uid}); its owner could read or replace the key: choose a new directory`,
    );
  }
  const entries = await readdir(directory);
  if (entries.length > 0) {
    for (const name of entries) {
      const entry = await lstat(join(directory, name));
      if (entry.isSymbolicLink())
        throw new ExportError(`${directory} holds a symbolic link ${name}; choose a new directory`);
      if (entry.nlink > 1 && !entry.isDirectory())
        throw new ExportError(`${directory} holds a hard link ${name}; choose a new directory`);
    }
    throw new ExportError(
      `${directory} is not empty; choose a new directory (a bundle is never written over files)`,
    );
  }
  await chmod(directory, 0o700);
}

async function writePrivate(path: string, content: string): Promise<void> {
  // O_EXCL: fails if anything (file, link) is already there; O_NOFOLLOW: never through a link.
  // The mode is set again after, since the umask can only narrow it but a wider inherited default
  // must never stay.
  const flags = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW;
  const file = await open(path, flags, 0o600);
  try {
    await file.writeFile(content, 'utf8');
    await file.chmod(0o600);
  } finally {
    await file.close();
  }
}

export async function exportDeviceBundle(options: ExportOptions): Promise<ExportResult> {
  const { db, vault, plantId, endpoint } = options;
  const directory = resolve(options.directory);
  const [plant] = await db.select().from(plants).where(eq(plants.id, plantId));
  if (!plant) throw new ExportError(`plant ${plantId} does not exist`);
  if (plant.iotStatus !== 'active' || !plant.certificateId || !plant.thingName) {
    throw new ExportError(
      `plant ${plantId} has no active IoT identity (status ${plant.iotStatus}); provision it first`,
    );
  }
  const [row] = await db
    .select()
    .from(certificates)
    .where(eq(certificates.certificateId, plant.certificateId));
  // A row without a key that is not destroyed: certificate mode device-csr, the key is on the device.
  const keyOnDevice = row !== undefined && row.encryptedPrivateKey === null && row.destroyedAt === null;
  if (!row?.encryptedCertificatePem || (!row.encryptedPrivateKey && !keyOnDevice)) {
    throw new ExportError(
      `certificate ${plant.certificateId} of plant ${plantId} has no stored ${row?.encryptedPrivateKey ? 'certificate PEM' : 'private key'} ` +
        '(destroyed, or created outside solar-iot); rotate the certificate to issue one that can be handed over',
    );
  }
  if (!endpoint) throw new ExportError('no ATS endpoint: set AWS_IOT_ENDPOINT or pass --endpoint');

  // Decrypt before touching the disk: a tampered or unknown-key value leaves nothing behind.
  const privateKeyPem = row.encryptedPrivateKey ? await vault.decrypt(row.encryptedPrivateKey) : null;
  const certificatePem = await vault.decrypt(row.encryptedCertificatePem);
  if (
    privateKeyPem !== null &&
    options.checkKeyMatches !== false &&
    publicKeyFingerprintOfKey(privateKeyPem) !== publicKeyFingerprintOfCertificate(certificatePem)
  ) {
    throw new ExportError(
      `the stored key of certificate ${plant.certificateId} does not match its certificate`,
    );
  }

  const shadow = deviceShadowTopics(plant.thingName);
  const device = {
    plantId,
    thingName: plant.thingName,
    clientId: plant.thingName,
    endpoint,
    port: 8883,
    certificateId: plant.certificateId,
    files: {
      certificate: BUNDLE_FILES.certificate,
      privateKey: privateKeyPem === null ? null : BUNDLE_FILES.privateKey,
      rootCa: BUNDLE_FILES.rootCa,
    },
    ...(privateKeyPem === null ? { privateKey: KEY_ON_DEVICE } : {}),
    topics: {
      publishTelemetry: telemetryTopicFor(plantId),
      subscribeCommands: `${commandTopicFor(plantId)}/#`,
      // The classic shadow's; a named one has the same under `.../shadow/name/<shadowName>/`.
      publishShadow: shadow.publish,
      subscribeShadow: shadow.subscribe,
    },
  };
  await prepareDirectory(directory);
  const written: string[] = [];
  try {
    for (const [name, content] of [
      [BUNDLE_FILES.certificate, certificatePem],
      [BUNDLE_FILES.privateKey, privateKeyPem],
      [BUNDLE_FILES.rootCa, AMAZON_ROOT_CA_1_PEM],
      [BUNDLE_FILES.device, `${JSON.stringify(device, null, 2)}\n`],
    ] as const) {
      if (content === null) continue;
      await writePrivate(join(directory, name), content);
      written.push(name);
    }
  } catch (error) {
    // Half a bundle is worse than none: it could be installed by mistake.
    await Promise.all(written.map((name) => rm(join(directory, name), { force: true })));
    throw error;
  }
  const exportedAt = (options.now ?? (() => new Date()))();
  await db.update(certificates).set({ exportedAt }).where(eq(certificates.id, row.id));
  return {
    directory,
    files: written,
    privateKeyIncluded: privateKeyPem !== null,
    thingName: plant.thingName,
    certificateId: plant.certificateId,
    exportedAt,
  };
}

export interface ExportArgs {
  plantId: string;
  directory: string;
  /** Default: deps.endpoint() (AWS_IOT_ENDPOINT, else DescribeEndpoint). */
  endpoint?: string | undefined;
  checkKeyMatches: boolean;
}

/**
 * `solar-iot export-credentials` once its clients are open: exports, then prints file names and
 * the export time only (never a key or a PEM). Returns what was exported.
 */
export async function exportCommand(
  args: ExportArgs,
  deps: { db: Db; vault: KeyVault; endpoint: () => Promise<string | undefined> },
  out: (line: string) => void,
): Promise<ExportResult> {
  const result = await exportDeviceBundle({
    db: deps.db,
    vault: deps.vault,
    plantId: args.plantId,
    directory: args.directory,
    endpoint: args.endpoint ?? (await deps.endpoint()) ?? '',
    checkKeyMatches: args.checkKeyMatches,
  });
  out(
    `exported certificate ${result.certificateId} of ${result.thingName} to ${result.directory} (mode 0700):`,
  );
  for (const f of result.files) out(`  ${f} (0600)`);
  if (!result.privateKeyIncluded)
    out('  no private key: the device made its own and sent a CSR (certificate mode device-csr)');
  out(
    `recorded exported_at ${result.exportedAt.toISOString()}; hand the directory to the installer, then delete it`,
  );
  return result;
}

/**
 * Where devices connect: AWS_IOT_ENDPOINT, else the account's ATS endpoint (DescribeEndpoint).
 * `awsOptions`: the interceptor of tests (test/iam records the calls); production passes nothing.
 */
export async function atsEndpoint(
  config: Config,
  awsOptions: AwsClientsOptions = {},
): Promise<string | undefined> {
  if (config.aws.iotEndpoint) return config.aws.iotEndpoint;
  const aws = openAwsClients(config, awsOptions);
  try {
    return (await aws.iot.send(new DescribeEndpointCommand({ endpointType: 'iot:Data-ATS' })))
      .endpointAddress;
  } finally {
    aws.destroy();
  }
}
