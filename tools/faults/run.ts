/**
 * `tsx tools/faults/run.ts worker|api|ingest`: runs a production process with the fault injector
 * SOLAR_IOT_FAULTS describes (spec.ts) installed on its AWS clients. The production entry points
 * never read that variable; the chaos tests and `npm start` (when SOLAR_IOT_FAULTS is set) start
 * the processes through here. Refused with NODE_ENV=production (faultInjectorFromEnv).
 */
import { ConfigError } from '../../src/config/index.js';
import type { AwsClientInterceptor } from '../../src/iot/clients.js';
import { faultInjectorFromEnv } from './env.js';
import { FaultSpecError } from './spec.js';

/** Each loads only its own process's modules. */
const RUNS = {
  async worker(interceptor) {
    const [{ runWorker }, { loadWorkerConfig }] = await Promise.all([
      import('../../src/worker.js'),
      import('../../src/app/config.js'),
    ]);
    await runWorker(loadWorkerConfig(), { interceptor });
  },
  async api(interceptor) {
    const { runApi } = await import('../../src/api/main.js');
    await runApi(process.env, { interceptor });
  },
  async ingest(interceptor) {
    const { runIngest } = await import('../../src/ingest/main.js');
    await runIngest({ interceptor });
  },
} satisfies Record<string, (interceptor: AwsClientInterceptor | undefined) => Promise<void>>;

const app = process.argv[2] as keyof typeof RUNS;
if (!Object.hasOwn(RUNS, app)) {
  console.error(`usage: tsx tools/faults/run.ts ${Object.keys(RUNS).join('|')}`);
  process.exit(2);
}
try {
  await RUNS[app](faultInjectorFromEnv(process.env));
} catch (error) {
  // The message alone for a wrong setting, as the production entry points print it.
  if (error instanceof FaultSpecError || error instanceof ConfigError) {
    console.error((error as Error).message);
    process.exit(2);
  }
  throw error;
}
