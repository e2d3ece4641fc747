export { FAULTS_VARIABLE, faultInjectorFromEnv } from './env.js';
export {
  FAULT_MIDDLEWARE_NAME,
  FaultInjector,
  type FaultInjectorOptions,
  type FaultStats,
  injectedError,
  type MiddlewareClient,
  seededRandom,
} from './injector.js';
export {
  AWS_IOT_QUOTAS,
  FAULT_KINDS,
  type FaultKind,
  type FaultRule,
  type FaultSpec,
  FaultSpecError,
  operationMatches,
  parseFaultSpec,
  type QuotaRule,
} from './spec.js';
export { TokenBucket } from './token-bucket.js';
