/**
 * One plant never has a provision and a deprovision running at once. These activities talk to
 * Temporal itself: a workflow cannot wait for the result of a workflow it did not start. Each
 * returns false if no such operation was running.
 */
export interface OperationActivities {
  /** Cancels a running provision of the plant and waits until its compensations have run. */
  stopProvisioning(input: { plantId: string }): Promise<boolean>;
  /**
   * Cancels a running rotation of the plant and waits until it has closed (a rotation before its
   * switch removes its new certificate; one in its grace period leaves both certificates).
   */
  stopRotation(input: { plantId: string }): Promise<boolean>;
  /** A provision started while the plant is being deprovisioned waits for that to finish. */
  waitForDeprovisioning(input: { plantId: string }): Promise<boolean>;
}
