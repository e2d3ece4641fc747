/** A certificate attached (or to be attached) to a thing: what the attachment calls name. */
export interface ThingPrincipal {
  thingName: string;
  certificateArn: string;
}

/** The plant's thing in AWS IoT and what is attached to it. */
export interface ThingActivities {
  /** Creates the plant's thing; one of that name counts as created only if it carries this plant's id. */
  createThing(input: { plantId: string }): Promise<{ thingName: string; thingArn: string }>;
  attachThingPrincipal(input: ThingPrincipal): Promise<void>;
  /** The thing's principals; none when the thing does not exist. */
  listThingPrincipals(input: { thingName: string }): Promise<string[]>;
  /** Idempotent: a principal or thing already gone counts as detached. */
  detachThingPrincipal(input: ThingPrincipal): Promise<void>;
  /** Fails retryably until AWS no longer lists the certificate on the thing (detach is asynchronous). */
  waitForThingDetached(input: ThingPrincipal): Promise<void>;
  /** Idempotent; fails retryably while a detach is still propagating. */
  deleteThing(input: { thingName: string }): Promise<void>;
}
