import type { RemovalGroup, RemovalStep } from './types.js';

/**
 * Certificates are detached and deleted before the rule, thing and policy they tied together:
 * AWS refuses to delete a thing or policy a certificate is still attached to.
 */
const RANK: Record<RemovalStep['activity'], number> = {
  deactivateCertificate: 0,
  detachPolicy: 0,
  detachThingPrincipal: 0,
  waitForThingDetached: 0,
  deleteCertificate: 0,
  destroyStoredKey: 0,
  removeTelemetryRoute: 1,
  deleteThing: 2,
  deletePolicy: 3,
};

/** Each group's steps in the order AWS accepts, whatever order the lookups finished in. */
export function orderPlan(groups: Iterable<RemovalGroup>): RemovalGroup[] {
  return [...groups].map((group) => ({ ...group, steps: stableSort(group.steps, (s) => RANK[s.activity]) }));
}

function stableSort<T>(items: T[], key: (item: T) => number): T[] {
  return items
    .map((item, index) => ({ item, index }))
    .sort((a, b) => key(a.item) - key(b.item) || a.index - b.index)
    .map((x) => x.item);
}
