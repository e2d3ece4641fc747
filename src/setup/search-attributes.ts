/**
 * Custom search attributes the workflows set (PlantId, IotStatus: the Web UI's way to find a
 * plant's operations and stuck provisions). Registered on every Temporal server: by `solar-iot
 * setup temporal` on an existing cluster (./temporal.ts), the dev server `npm start` runs
 * (`--search-attribute`), the time-skipping test server (test/support/temporal.ts) and
 * docker-compose (temporal-setup).
 */
export const SEARCH_ATTRIBUTES = [
  { name: 'PlantId', type: 'Keyword' },
  { name: 'IotStatus', type: 'Keyword' },
] as const;
