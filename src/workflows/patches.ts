import { patched } from '@temporalio/workflow';

/**
 * Workflow versioning: the one place a patched() id may come from.
 *
 * A workflow run replays its history against the code of whichever worker picks it up, so a
 * change to workflow code that alters the commands it issues (an activity, timer or child added,
 * removed, reordered or given other options) breaks every run started under the old code. From
 * the first release on, every such change is guarded by `isPatched(id)` (new code when true),
 * with the id registered below: what it guards, and when it may go. It may go once no run
 * started before it can still be open or replayed: the longest workflow (a rotation waits out
 * its grace period, days) plus the namespace's retention after the release that added it. Until
 * then the history recorded before the change stays in test/provisioning/histories/ and replays.
 *
 * Before the first release there is nothing to guard: workflow changes re-record the histories
 * (`npm run record:histories`) instead, and the registry is empty.
 */
export interface WorkflowPatch {
  /** The change the id guards: which workflow, which commands. */
  guards: string;
  /** When it may be removed: the release that added it plus longest run plus retention. */
  removableAfter: string;
}

export const workflowPatches = {} as const satisfies Record<string, WorkflowPatch>;

export type PatchId = keyof typeof workflowPatches;

/** patched() for a registered id only: an unregistered id does not compile. */
export function isPatched(id: PatchId): boolean {
  return patched(id);
}
