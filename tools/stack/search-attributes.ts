/**
 * Custom search attributes the workflows set. Registered on every Temporal server the stack
 * starts: the dev server (`--search-attribute`), the time-skipping test server (OperatorService
 * AddSearchAttributes, see test/support/temporal.ts) and docker-compose (temporal-setup).
 */
export const SEARCH_ATTRIBUTES = [
  { name: 'PlantId', type: 'Keyword' },
  { name: 'IotStatus', type: 'Keyword' },
] as const;
