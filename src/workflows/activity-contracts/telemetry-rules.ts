/** How a plant's telemetry reaches the SQS queue, and where its devices connect. */
export interface TelemetryRuleActivities {
  /**
   * Makes sure this plant's telemetry reaches the queue: the shared `solar/+/data` rule by
   * default, or a rule of its own (TOPIC_RULE_MODE=per-plant). Returns the per-plant rule name,
   * or null when the shared rule carries it.
   */
  ensureTelemetryRoute(input: { plantId: string }): Promise<{ ruleName: string | null }>;
  /** Removes this plant's own rule if it has one; the shared rule stays for the other plants. */
  removeTelemetryRoute(input: { plantId: string }): Promise<void>;
  /** The ATS data endpoint devices connect to. */
  getDataEndpoint(): Promise<string>;
}
