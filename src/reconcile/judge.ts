/**
 * The one rule every resource kind is judged by, and what judging produces.
 *
 * A resource our naming ties to a plant is an orphan unless the plant is in flight (an operation
 * runs on it, or its record changed during the read) or it is what the plant, being active, is
 * expected to hold. An orphan is removable only when every proof holds, in order: that it is ours
 * by our records and not only by naming, that its content is what we create, and that nothing not
 * proven ours still depends on it. The first proof that fails says why it is kept.
 */

import { activePlant, type PlantRow, type Snapshot, statusOf } from './snapshot.js';
import type { MissingResource, Orphan, RemovalGroup, RemovalStep, UnattachedCertificate } from './types.js';

export interface Findings {
  orphans: Orphan[];
  missing: MissingResource[];
  unattached: UnattachedCertificate[];
  /** The removable orphans by plant, in the order each plant's first one was found. */
  groups: Map<string, RemovalGroup>;
}

export function noFindings(): Findings {
  return { orphans: [], missing: [], unattached: [], groups: new Map() };
}

/**
 * Whether a resource of `plantId` is judged at all: not while the plant is in flight, and not
 * when the plant is active and `expected` says the resource is one it should hold.
 */
export function isJudged(
  snapshot: Snapshot,
  plantId: string,
  expected: (plant: PlantRow) => boolean,
): boolean {
  if (snapshot.inFlight.has(plantId)) return false;
  const plant = activePlant(snapshot, plantId);
  return !(plant && expected(plant));
}

/** A proof of ownership: whether it holds, and what the report says when it does not. */
export type Proof = readonly [holds: boolean, failure: string];

export interface Candidate {
  kind: Orphan['kind'];
  name: string;
  arn?: string;
  plantId: string;
  reason: string;
  proofs: readonly Proof[];
  /** What the report says proves it ours when every proof holds. */
  proven: string;
  /** How the plan names it (`thing solar-plant-x`) and the steps that remove it. */
  resource: string;
  steps: readonly RemovalStep[];
}

/** Records the candidate as an orphan, and its removal in the plan when proven ours; true then. */
export function recordOrphan(findings: Findings, snapshot: Snapshot, candidate: Candidate): boolean {
  const { kind, name, arn, plantId, reason } = candidate;
  const failed = candidate.proofs.find(([holds]) => !holds);
  const removable = failed === undefined;
  findings.orphans.push({
    kind,
    name,
    ...(arn === undefined ? {} : { arn }),
    plantId,
    plantStatus: statusOf(snapshot, plantId),
    reason,
    removable,
    proof: failed ? failed[1] : candidate.proven,
  });
  if (removable) {
    const group = groupOf(findings, snapshot, plantId);
    group.resources.push(candidate.resource);
    group.steps.push(...candidate.steps);
  }
  return removable;
}

function groupOf(findings: Findings, snapshot: Snapshot, plantId: string): RemovalGroup {
  let group = findings.groups.get(plantId);
  if (!group) {
    group = { plantId, plantStatus: statusOf(snapshot, plantId), resources: [], steps: [] };
    findings.groups.set(plantId, group);
  }
  return group;
}
