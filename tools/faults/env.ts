import { FaultInjector } from './injector.js';
import { FaultSpecError, parseFaultSpec } from './spec.js';

/** The variable that switches fault injection on (tests and benchmarks only). */
export const FAULTS_VARIABLE = 'SOLAR_IOT_FAULTS';

/**
 * The fault injector the environment asks for, or undefined when SOLAR_IOT_FAULTS is unset.
 * Refused with NODE_ENV=production: a forgotten variable must never throttle a real fleet.
 * Throws FaultSpecError naming the variable and the wrong item.
 */
export function faultInjectorFromEnv(
  env: Record<string, string | undefined> = process.env,
): FaultInjector | undefined {
  const raw = env[FAULTS_VARIABLE]?.trim();
  if (!raw) return undefined;
  if (env.NODE_ENV === 'production') {
    throw new FaultSpecError(
      `${FAULTS_VARIABLE} is set but NODE_ENV=production: fault injection is for tests and benchmarks only. Fix: unset ${FAULTS_VARIABLE}`,
    );
  }
  try {
    return new FaultInjector(parseFaultSpec(raw));
  } catch (error) {
    if (error instanceof FaultSpecError) {
      throw new FaultSpecError(
        `${FAULTS_VARIABLE}: ${error.message}. Fix: see tools/faults/spec.ts for the syntax`,
      );
    }
    throw error;
  }
}
