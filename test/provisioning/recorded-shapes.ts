/**
 * The workflow shapes stored in ./histories: histories.record.ts records each, replay.test.ts
 * requires each. A workflow path that production runs and no shape here covers is not checked
 * for determinism.
 */
export const recordedShapes = [
  // POLICY_MODE=shared (the default): shared policy chosen, only detached on removal.
  'provision-plant',
  'provision-plant-rolled-back',
  'deprovision-plant',
  // POLICY_MODE=per-plant: the plant's own policy created, deleted in rollback and deprovision.
  'provision-plant-per-plant-policy',
  'provision-plant-rolled-back-per-plant-policy',
  'deprovision-plant-per-plant-policy',
  // Cancelled while a step fails an attempt: rollback, outcome recorded outside the cancelled scope.
  'provision-plant-cancelled',
  // A certificate rotation through its grace period timer to the old certificate's removal.
  'rotate-certificate',
  // Certificate mode device-csr: waits for the device's CSR (timer, submitCsr update), then
  // certifies it; and the wait timing out, the thing rolled back.
  'provision-plant-device-csr',
  'provision-plant-device-csr-timed-out',
] as const;

export type RecordedShape = (typeof recordedShapes)[number];
