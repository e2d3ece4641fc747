/** The policy a provision attaches to its certificate. */
export interface PlantPolicy {
  policyName: string;
  /** The shared policy: never created or deleted for one plant, only attached and detached. */
  shared: boolean;
}

/** The AWS IoT policy a plant's certificates carry: the shared one, or the plant's own. */
export interface PolicyActivities {
  /**
   * Which policy this plant's certificate gets (POLICY_MODE). The shared policy is made sure of
   * here; the plant's own is created afterwards with createPolicy.
   */
  plantPolicy(input: { plantId: string }): Promise<PlantPolicy>;
  /** Creates the plant's own policy; one of that name counts as created only if its document is this plant's. */
  createPolicy(input: { plantId: string }): Promise<{ policyName: string }>;
  attachPolicy(input: { policyName: string; certificateArn: string }): Promise<void>;
  /** Idempotent: a policy or certificate already gone counts as detached. */
  detachPolicy(input: { policyName: string; certificateArn: string }): Promise<void>;
  /** Idempotent; fails retryably while AWS still refuses the delete after a detach. */
  deletePolicy(input: { policyName: string }): Promise<void>;
}
