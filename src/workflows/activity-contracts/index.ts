/**
 * The activities the workflows call, declared here by the workflows that call them and
 * implemented by the factories in src/activities (each typed with its group's interface).
 * Types only: the workflow bundle and the activities both import them, neither imports the other.
 */
import type { BackfillActivities } from './backfill.js';
import type { CertificateActivities } from './certificates.js';
import type { OperationActivities } from './operations.js';
import type { PlantRecordActivities } from './plant-records.js';
import type { PolicyActivities } from './policies.js';
import type { ReconcileActivities } from './reconcile.js';
import type { RotationActivities } from './rotation.js';
import type { TelemetryRuleActivities } from './telemetry-rules.js';
import type { ThingActivities } from './things.js';

export type { BackfillActivities, PlantToBackfill } from './backfill.js';
export type { CertificateActivities, CertificateRef } from './certificates.js';
export type { OperationActivities } from './operations.js';
export type { PlantRecordActivities, StoredCertificate } from './plant-records.js';
export type { PlantPolicy, PolicyActivities } from './policies.js';
export type { Confirmation, ReconcileActivities } from './reconcile.js';
export type { RotationActivities, RotationTarget } from './rotation.js';
export type { TelemetryRuleActivities } from './telemetry-rules.js';
export type { ThingActivities, ThingPrincipal } from './things.js';

/** Every activity the worker registers. */
export interface Activities
  extends ThingActivities,
    CertificateActivities,
    PolicyActivities,
    TelemetryRuleActivities,
    PlantRecordActivities,
    OperationActivities,
    BackfillActivities,
    ReconcileActivities,
    RotationActivities {}
