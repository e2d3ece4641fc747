/**
 * Mock mode's thing shadows: in this process' memory, with AWS IoT's semantics for what the
 * plant service relies on (merge of desired state, `null` deletes a key, version per update,
 * version conflicts, delta of desired against reported).
 */
import { mergeShadowState, shadowDelta } from '../iot/shadow-state.js';
import { NotFoundError } from '../service/errors.js';
import {
  type ShadowDocument,
  type ShadowState,
  type ShadowStore,
  ShadowStoreConflict,
} from '../service/shadows.js';

interface StoredShadow {
  desired: ShadowState;
  reported: ShadowState;
  version: number;
  timestamp: number;
}

export function mockShadowStore(): ShadowStore & { clear(): void } {
  const shadows = new Map<string, StoredShadow>();
  const key = (thingName: string, shadowName?: string) => `${thingName}\u0000${shadowName ?? ''}`;

  return {
    async get(thingName, { shadowName }) {
      const s = shadows.get(key(thingName, shadowName));
      if (!s) {
        throw new NotFoundError(
          'shadow_not_found',
          `Thing ${thingName} has no ${shadowName ? `shadow named ${shadowName}` : 'classic shadow'} yet (mock mode); set its desired state first`,
        );
      }
      const d = shadowDelta(s.desired, s.reported);
      const doc: ShadowDocument = {
        state: { desired: s.desired, reported: s.reported, ...(Object.keys(d).length ? { delta: d } : {}) },
        version: s.version,
        timestamp: s.timestamp,
      };
      return structuredClone(doc);
    },

    async updateDesired(thingName, desired, { shadowName, version }) {
      const k = key(thingName, shadowName);
      const current = shadows.get(k);
      if (version !== undefined && (current?.version ?? 0) !== version) {
        throw new ShadowStoreConflict('Version conflict (mock mode)');
      }
      const next: StoredShadow = {
        desired: mergeShadowState(current?.desired ?? {}, desired),
        reported: current?.reported ?? {},
        version: (current?.version ?? 0) + 1,
        timestamp: Math.floor(Date.now() / 1000),
      };
      shadows.set(k, next);
      return structuredClone({ state: { desired }, version: next.version, timestamp: next.timestamp });
    },

    clear() {
      shadows.clear();
    },
  };
}
