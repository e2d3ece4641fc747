/**
 * The clients of the CLI and the tools, from their configuration (./config.ts): the database, the
 * AWS clients, a Temporal client with the payload codec and the key vault. The worker and the
 * service assemble theirs in ./worker.ts and ./service.ts.
 */
import { createTemporalClient, type TemporalClientHandle } from '../codec/data-converter.js';
import type { PayloadCodecSettings } from '../codec/settings.js';
import type { Config } from '../config/index.js';
import { type Cipher, createCipher } from '../crypto/encryption.js';
import { type CreateDbOptions, createDb, type DbHandle } from '../db/client.js';
import { type AwsClients, type AwsClientsOptions, createAwsClients } from '../iot/clients.js';

/** A pool of its own; `applicationName` lets an operator find the tool in pg_stat_activity. */
export function openDatabase(databaseUrl: string, options: CreateDbOptions = {}): DbHandle {
  return createDb(databaseUrl, options);
}

/** `options.interceptor` is for tests and the local stack only. */
export function openAwsClients(core: Config, options: AwsClientsOptions = {}): AwsClients {
  return createAwsClients(core, options);
}

/**
 * A Temporal client that encrypts with the worker's payload codec: the keys of `codec`, or when it
 * is not given TEMPORAL_CODEC_KEYS of the process environment (a ConfigError when they are wrong).
 */
export function openTemporalClient(
  core: Config,
  codec?: PayloadCodecSettings,
): Promise<TemporalClientHandle> {
  return createTemporalClient(core, codec ? { codec } : {});
}

/** The vault of stored device keys: `currentKey` seals, it and the previous keys open. */
export function openVault(core: Config, currentKey: string): Cipher {
  return createCipher({ currentKey, previousKeys: core.encryption.previousKeys });
}
