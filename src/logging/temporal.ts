/**
 * Installs the Temporal Runtime: routes its logger (SDK, workflow and activity context loggers, and Core's own
 * Rust logs through `telemetryOptions.logging.forward`) into pino, and, in the worker, serves
 * Core's metrics to Prometheus.
 *
 * Separate from `./index.js` because importing @temporalio/worker loads the native bridge.
 */
import type { LogMetadata, Logger as TemporalLogger, LogLevel as TemporalLogLevel } from '@temporalio/common';
import { makeTelemetryFilterString, Runtime } from '@temporalio/worker';
import type { Level, Logger } from 'pino';
import { serializeError } from './index.js';

const LEVELS: Record<TemporalLogLevel, Level> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/** A Temporal `Logger` that writes to pino. Symbol keys (Core's nanosecond timestamp) are dropped. */
export class PinoTemporalLogger implements TemporalLogger {
  constructor(private readonly logger: Logger) {}

  log(level: TemporalLogLevel, message: string, meta?: LogMetadata): void {
    const fields: Record<string, unknown> = {};
    if (meta) {
      for (const [k, v] of Object.entries(meta)) fields[k] = v instanceof Error ? serializeError(v) : v;
    }
    this.logger[LEVELS[level] ?? 'info'](fields, message);
  }
  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }
  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }
  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }
  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }
  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}

let installedWith: Logger | undefined;

export interface InstallTemporalLoggerOptions {
  /** Level of Core (Rust) logs forwarded; default WARN (DEBUG is very chatty). */
  coreLevel?: TemporalLogLevel;
  /**
   * Core's Prometheus exporter (the SDK's worker metrics) on `host:port`: names end in _total
   * (counters) and _seconds (durations, in seconds), as Prometheus names them. Binding fails
   * here, synchronously, when the port is taken.
   */
  prometheus?: { bindAddress: string } | undefined;
}

/**
 * Installs the Temporal Runtime singleton with pino as its logger. Call it once, before any
 * Worker, NativeConnection or TestWorkflowEnvironment is created. A second call with the same
 * logger is a no-op; anything else after the Runtime exists throws (Temporal allows one install).
 */
export function installTemporalLogger(logger: Logger, options: InstallTemporalLoggerOptions = {}): Runtime {
  if (installedWith === logger && Runtime._instance) return Runtime._instance;
  if (Runtime._instance !== undefined) {
    throw new Error(
      'installTemporalLogger() must run before any Temporal Worker, NativeConnection or test environment is created: the Temporal Runtime already exists',
    );
  }
  const runtime = Runtime.install({
    logger: new PinoTemporalLogger(logger.child({ component: 'temporal' })),
    telemetryOptions: {
      logging: {
        filter: makeTelemetryFilterString({ core: options.coreLevel ?? 'WARN', other: 'ERROR' }),
        forward: {},
      },
      ...(options.prometheus
        ? {
            metrics: {
              prometheus: {
                bindAddress: options.prometheus.bindAddress,
                countersTotalSuffix: true,
                unitSuffix: true,
                useSecondsForDurations: true,
              },
            },
          }
        : {}),
    },
  });
  installedWith = logger;
  return runtime;
}
