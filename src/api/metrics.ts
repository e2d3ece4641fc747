/**
 * The API's Prometheus metrics, served on API_METRICS_HOST:API_METRICS_PORT (never on the API's
 * own port: a scraper needs no API token, and the API's callers never read the counters).
 * Requests are labelled with the route's template (`/plants/:id`), not the URL a caller sent:
 * one series per route, however many plants, and no id or query string in a label.
 */
import type { FastifyInstance } from 'fastify';
import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';
import { AwsCallMetrics } from '../iot/aws-call-metrics.js';

/** The route label of a request no route matched (404s of unknown paths, undecodable paths). */
export const UNMATCHED_ROUTE = 'unmatched';

export class ApiMetrics {
  readonly registry = new Registry();

  readonly requests = new Counter({
    name: 'solar_iot_api_requests_total',
    help: 'HTTP requests answered, by route template, method and status code',
    labelNames: ['route', 'method', 'status'],
    registers: [this.registry],
  });

  readonly seconds = new Histogram({
    name: 'solar_iot_api_request_duration_seconds',
    help: 'Time from request received to response sent, by route template, method and status code',
    labelNames: ['route', 'method', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  /** The AWS calls the API makes itself (shadows, the data endpoint, rule checks). */
  readonly aws = new AwsCallMetrics(this.registry);

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /** Counts every response of `app`, the API's own errors (401, 403, 404, 500) included. */
  install(app: FastifyInstance): void {
    app.addHook('onResponse', async (request, reply) => {
      const labels = {
        route: request.routeOptions.url ?? UNMATCHED_ROUTE,
        method: request.method,
        status: String(reply.statusCode),
      };
      this.requests.inc(labels);
      this.seconds.observe(labels, reply.elapsedTime / 1000);
    });
  }
}
