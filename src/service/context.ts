/** What the per-concern parts of a service instance share, built once by createSolarIot. */
import type { Client } from '@temporalio/client';
import type { Db } from '../db/client.js';
import type { IotBackend } from './mode.js';
import type { PlantRepository } from './plants.js';
import type { TemporalCalls } from './temporal-calls.js';

export interface ServiceContext {
  backend: IotBackend;
  temporal: Client;
  db: Db;
  plants: PlantRepository;
  calls: TemporalCalls;
  /** Where provisions and deprovisions are started. */
  taskQueue: string;
}
