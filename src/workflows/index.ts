// The workflow bundle's entry: every workflow type the worker registers.

export { backfillPlants } from './backfill-plants.js';
export { deprovisionPlant } from './deprovision-plant.js';
export { provisionPlant } from './provision-plant.js';
export { reconcile } from './reconcile.js';
export { rotateCertificate, rotateExpiringCertificates } from './rotate-certificate.js';
