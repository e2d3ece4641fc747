/**
 * Request and response schemas of the HTTP API. Requests are validated with them; the OpenAPI
 * document is generated from them; response schemas are tied to the library's types at compile
 * time (`satisfies z.ZodType<...>`), and a test checks real responses against the document.
 */
import { z } from 'zod';
import { IOT_STATUSES } from '../db/schema.js';
import { MAX_PLANT_ID_LENGTH } from '../iot/naming.js';
import type { OperationView } from '../service/operations.js';
import { OPERATION_STATES } from '../service/operations.js';
import { MAX_PAGE_SIZE, type PlantView } from '../service/plants.js';
import type {
  CommandOutcome,
  DeprovisionOutcome,
  PlantStatus,
  ProvisionOutcome,
  Readiness,
  ShadowView,
} from '../service/solar-iot.js';
import { MAX_PLANT_NAME_LENGTH } from '../service/solar-iot.js';
import {
  type BackfillProgress,
  MAX_BACKFILL_CONCURRENCY,
  MAX_BACKFILL_PAGE_SIZE,
} from '../workflows/backfill-contract.js';
import { PLANT_CERTIFICATE_MODES } from '../workflows/contract.js';
import { PlantTelemetryStatusSchema } from './telemetry-schemas.js';

const IOT_MODES = ['aws', 'mock', 'disabled'] as const;

export const PlantId = z
  .string()
  .min(1)
  .max(MAX_PLANT_ID_LENGTH)
  .regex(/^[A-Za-z0-9_-]+$/, { error: 'use letters, digits, "-" and "_" only (a UUID works)' })
  .meta({
    description: 'Plant id: letters, digits, "-" and "_" (a UUID works)',
    example: '3f0c7a52-8d1e-4d55-9a57-1b0f5d3c2a10',
  });

export const ErrorBody = z
  .object({
    error: z.object({
      code: z
        .string()
        .meta({ description: 'Stable, machine-readable error code', example: 'plant_not_found' }),
      message: z.string().meta({ description: 'What failed and what to do about it' }),
      details: z.record(z.string(), z.unknown()).optional(),
    }),
  })
  .meta({ id: 'Error' });

export const IotMode = z.enum(IOT_MODES).meta({
  description:
    'aws: real AWS IoT; mock: fake resources, no AWS call (USE_MOCK_DATA=true); disabled: no IoT (USE_AWS_IOT=false or no AWS credentials)',
});

export const PlantSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    iotStatus: z.enum(IOT_STATUSES),
    thingName: z.string().nullable(),
    thingArn: z.string().nullable(),
    certificateId: z.string().nullable(),
    certificateArn: z.string().nullable(),
    policyName: z.string().nullable(),
    ruleName: z.string().nullable(),
    certificateMode: z.enum(PLANT_CERTIFICATE_MODES).meta({
      description:
        "Where the plant's key is made: server, or device-csr (the device's choice, kept after a failed provision until a provision names another mode)",
    }),
    lastError: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
    provisionedAt: z.string().nullable(),
    deprovisionedAt: z.string().nullable(),
  })
  .meta({ id: 'Plant' }) satisfies z.ZodType<PlantView>;

export const OperationSchema = z
  .object({
    kind: z.enum(['provision', 'deprovision']),
    workflowId: z.string(),
    runId: z.string(),
    state: z.enum(OPERATION_STATES),
    startedAt: z.string(),
    closedAt: z.string().nullable(),
    currentStep: z.string().nullable(),
    stepsDone: z.array(z.string()),
    lastError: z.string().nullable(),
    removed: z
      .array(z.string())
      .optional()
      .meta({
        description: 'A completed deprovision: the resources it removed (empty: nothing was left)',
        example: ['certificate 4c1f...', 'thing solar-plant-3f0c7a52'],
      }),
  })
  .meta({ id: 'Operation' }) satisfies z.ZodType<OperationView>;

export const PlantStatusSchema = z
  .object({
    iotMode: IotMode,
    plant: PlantSchema,
    operation: OperationSchema.nullable(),
    telemetry: PlantTelemetryStatusSchema,
  })
  .meta({ id: 'PlantStatus' }) satisfies z.ZodType<PlantStatus>;

export const PlantPageSchema = z
  .object({
    iotMode: IotMode,
    items: z.array(
      PlantSchema.extend({
        lastReadingAt: z.string().nullable().meta({ description: 'Newest accepted reading; null if none' }),
      }),
    ),
    nextCursor: z
      .string()
      .nullable()
      .meta({ description: 'Pass as `cursor` for the next page; null on the last page' }),
  })
  .meta({ id: 'PlantPage' });

const ResourcesSchema = z.object({
  thingName: z.string(),
  thingArn: z.string(),
  certificateId: z.string(),
  certificateArn: z.string(),
  policyName: z.string(),
  ruleName: z.string().optional(),
  endpoint: z.string(),
});

/** Fields every operation outcome has (ProvisionOutcome, DeprovisionOutcome). */
const operationOutcomeFields = {
  iotMode: IotMode,
  plantId: z.string(),
  iotStatus: z.enum(IOT_STATUSES),
  workflowId: z.string().nullable(),
  runId: z.string().nullable(),
};

export const ProvisionOutcomeSchema = z
  .object({
    ...operationOutcomeFields,
    certificateMode: z.enum(PLANT_CERTIFICATE_MODES).optional().meta({
      description: "The mode this provision makes the key in: the one given, else the plant's stored mode",
    }),
    certificateModeChanged: z
      .object({ from: z.enum(PLANT_CERTIFICATE_MODES), to: z.enum(PLANT_CERTIFICATE_MODES) })
      .optional()
      .meta({ description: "Present when this provision switched the plant's certificate mode" }),
    resources: ResourcesSchema.optional(),
  })
  .meta({ id: 'ProvisionOutcome' }) satisfies z.ZodType<ProvisionOutcome>;

export const DeprovisionOutcomeSchema = z
  .object({
    ...operationOutcomeFields,
    result: z.object({ plantId: z.string(), removed: z.array(z.string()) }).optional(),
  })
  .meta({ id: 'DeprovisionOutcome' }) satisfies z.ZodType<DeprovisionOutcome>;

const StateObject = z.record(z.string(), z.unknown());

export const ShadowSchema = z
  .object({
    iotMode: IotMode,
    plantId: z.string(),
    thingName: z.string(),
    shadowName: z.string().nullable(),
    state: z.object({
      desired: StateObject.nullable().optional(),
      reported: StateObject.nullable().optional(),
      delta: StateObject.optional(),
    }),
    metadata: z.unknown().optional(),
    version: z.number().int(),
    timestamp: z.number().int(),
  })
  .meta({ id: 'Shadow' }) satisfies z.ZodType<ShadowView>;

export const CommandOutcomeSchema = z
  .object({
    iotMode: IotMode,
    plantId: z.string(),
    topic: z.string().meta({ example: 'solar/3f0c7a52-8d1e-4d55-9a57-1b0f5d3c2a10/commands/restart' }),
    commandId: z.string(),
    qos: z.union([z.literal(0), z.literal(1)]),
  })
  .meta({ id: 'CommandOutcome' }) satisfies z.ZodType<CommandOutcome>;

const CheckSchema = z.object({
  ok: z.boolean(),
  required: z.boolean(),
  detail: z.string(),
  latencyMs: z.number(),
});

export const ReadinessSchema = z
  .object({
    ready: z.boolean(),
    iotMode: IotMode,
    checks: z.object({
      temporal: CheckSchema,
      postgresql: CheckSchema,
      aws: CheckSchema,
      deadLetters: CheckSchema.meta({
        description:
          "Not required: the telemetry rules' dead-letter queue and how many failed deliveries wait in it",
      }),
    }),
  })
  .meta({ id: 'Readiness' }) satisfies z.ZodType<Readiness>;

export const HealthSchema = z
  .object({ status: z.literal('ok'), iotMode: IotMode, uptimeSeconds: z.number() })
  .meta({ id: 'Health' });

export const BackfillStartedSchema = z
  .object({ iotMode: IotMode, workflowId: z.string(), runId: z.string() })
  .meta({ id: 'BackfillStarted' });

export const BackfillProgressSchema = z
  .object({
    done: z.number().int(),
    failed: z.number().int(),
    skipped: z.number().int(),
    failures: z.array(z.object({ plantId: z.string(), reason: z.string() })),
    runs: z.number().int(),
    startedAt: z.string(),
    remaining: z.number().int(),
    inFlight: z.number().int(),
    cursor: z.string().nullable(),
    finished: z.boolean(),
  })
  .meta({ id: 'BackfillProgress' }) satisfies z.ZodType<BackfillProgress>;

export const OpenApiDocumentSchema = z
  .record(z.string(), z.unknown())
  .meta({ description: 'This OpenAPI 3.1 document' });

// ---- requests ------------------------------------------------------------------------------

export const PlantParams = z.object({ id: PlantId });

/** Where the plant's key is made (src/service/device-csr.ts). */
const certificateChoiceFields = {
  certificateMode: z.enum(PLANT_CERTIFICATE_MODES).optional().meta({
    description:
      "server (default): the key is made here and kept encrypted for the installer's bundle. device-csr: the device makes its own key; the provision creates the thing, then waits (iotStatus awaiting-csr, step await-csr) for its CSR at POST /plants/{id}/csr",
  }),
  csrTimeout: z.string().max(16).optional().meta({
    description:
      'device-csr only: how long to wait for the CSR before rolling back (30m, 36h, 7d; default 7d, at most 365d)',
    example: '7d',
  }),
};

export const CreatePlantBody = z
  .object({
    name: z.string().trim().min(1).max(MAX_PLANT_NAME_LENGTH).meta({ example: 'Rooftop Lisbon 3' }),
    id: PlantId.optional().meta({ description: 'Your own plant id; a UUID is generated when omitted' }),
    ...certificateChoiceFields,
  })
  .strict();

export const ProvisionBody = z.object(certificateChoiceFields).strict();

export const ListPlantsQuery = z
  .object({
    iotStatus: z.enum(IOT_STATUSES).optional(),
    limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).optional(),
    cursor: PlantId.optional(),
    silentFor: z.string().max(16).optional().meta({
      description:
        'Only plants whose newest reading is older than this (15m, 2h, 1d) or that never sent one; only active plants unless iotStatus is given',
      example: '15m',
    }),
  })
  .strict();

export const ShadowQuery = z
  .object({
    name: z
      .string()
      .regex(/^[a-zA-Z0-9:_-]{1,64}$/, { error: 'use 1 to 64 letters, digits, ":", "_" or "-"' })
      .optional()
      .meta({ description: 'Named shadow; the classic shadow when omitted' }),
  })
  .strict();

export const PatchShadowBody = z
  .object({
    desired: z.record(z.string(), z.unknown()).meta({
      description: 'Merged into the desired state; a key set to null is removed',
      example: { powerLimit: 1000, mode: 'auto' },
    }),
    version: z.number().int().min(0).optional().meta({
      description: 'Apply only if the shadow is still at this version (409 otherwise)',
    }),
  })
  .strict();

export const CommandBody = z
  .object({
    command: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, { error: 'use 1 to 64 letters, digits, "_" or "-"' })
      .meta({ example: 'restart' }),
    params: z
      .unknown()
      .optional()
      .meta({ description: 'Any JSON value passed to the devices', example: { delaySeconds: 5 } }),
    qos: z.union([z.literal(0), z.literal(1)]).optional(),
  })
  .strict();

const BackfillWorkflowId = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,200}$/, { error: 'use 1 to 200 letters, digits, ".", "_" or "-"' })
  .meta({
    description:
      'A separate backfill run, under backfill-<id> (an id already starting with backfill- is used as is); default backfill-plants (one per namespace)',
  });

export const BackfillQuery = z.object({ workflowId: BackfillWorkflowId.optional() }).strict();

export const BackfillBody = z
  .object({
    workflowId: BackfillWorkflowId.optional(),
    concurrency: z.number().int().min(1).max(MAX_BACKFILL_CONCURRENCY).optional(),
    pageSize: z.number().int().min(1).max(MAX_BACKFILL_PAGE_SIZE).optional(),
  })
  .strict();
