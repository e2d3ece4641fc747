/**
 * The codec server process: `tsx src/codec/main.ts` (a child of `npm start`). Exits 2 with one
 * line per wrong variable; SIGTERM/SIGINT close it.
 *
 * With TEMPORAL_CODEC_KEYS set it reads nothing else of the configuration, so in production it
 * runs without ENCRYPTION_KEY (see keys.ts).
 */
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { loadCodecServerConfig } from '../app/config.js';
import { ConfigError } from '../config/index.js';
import { createLogger } from '../logging/index.js';
import { loadCodecKeys } from './keys.js';
import { withTokenFromFile } from './local.js';
import { EncryptionCodec } from './payload-codec.js';
import { createCodecServer } from './server.js';

export interface RunningCodecServer {
  url: string;
  close(): Promise<void>;
}

export async function runCodecServer(
  processEnv: Record<string, string | undefined> = process.env,
): Promise<RunningCodecServer> {
  const env = await withTokenFromFile(processEnv);
  const { server: settings, codec: keySettings, encryption } = loadCodecServerConfig(env);
  const { keys, source, warning } = await loadCodecKeys(keySettings.keys, encryption);
  const codec = new EncryptionCodec(keys);
  const logger = createLogger({ level: 'info', base: { service: 'codec-server' } });
  const server = createCodecServer({
    codec,
    token: settings.token,
    corsOrigins: settings.corsOrigins,
    allowEncode: settings.allowEncode,
    onRequest: (entry) => logger.info(entry, 'codec request'),
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(settings.port, settings.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${settings.host}:${port}`;
  logger.info(
    {
      url,
      keyIds: codec.keyIds,
      currentKeyId: codec.currentKeyId,
      keySource: source,
      corsOrigins: settings.corsOrigins,
      encode: settings.allowEncode ? 'on (CODEC_SERVER_ALLOW_ENCODE)' : 'off',
      ...(env.CODEC_SERVER_TOKEN_FILE
        ? { uiEndpoint: `${url}/t/<token in ${env.CODEC_SERVER_TOKEN_FILE}>` }
        : {}),
    },
    'codec server listening (POST /decode, /encode if allowed; Authorization: Bearer <CODEC_SERVER_TOKEN> or /t/<token>/ prefix)',
  );
  if (warning) logger.warn(warning);
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    const running = await runCodecServer();
    const stop = () => void running.close().then(() => process.exit(0));
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    console.error(`codec server failed to start: ${(error as Error).message}`);
    process.exit(1);
  }
}
