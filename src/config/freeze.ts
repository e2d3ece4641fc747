import { inspect } from 'node:util';

/**
 * Makes the object's secret-bearing fields invisible to JSON.stringify, util.inspect and pino,
 * while leaving them readable as ordinary properties.
 */
export function hideSecrets<T extends object>(obj: T): T {
  const redacted = () => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(obj)) {
      const secret = /key|secret|password|token|auth|tls|metadata/i.test(k);
      const empty = v === undefined || typeof v === 'boolean' || (Array.isArray(v) && v.length === 0);
      out[k] = secret && !empty ? '[redacted]' : v;
    }
    return out;
  };
  Object.defineProperty(obj, 'toJSON', { value: redacted, enumerable: false });
  Object.defineProperty(obj, inspect.custom, { value: redacted, enumerable: false });
  return obj;
}

export function deepFreeze<T>(obj: T): T {
  // Buffers (payload keys) cannot be frozen; they stay as they are.
  if (obj && typeof obj === 'object' && !ArrayBuffer.isView(obj) && !Object.isFrozen(obj)) {
    Object.freeze(obj);
    for (const v of Object.values(obj)) deepFreeze(v);
  }
  return obj;
}
