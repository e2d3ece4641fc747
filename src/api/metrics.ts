/**
 * The API's Prometheus metrics, served on API_METRICS_HOST:API_METRICS_PORT (never on the API's
 * own port: a scraper needs no API token, and the API's callers never read the counters).
 * Requests are labelled with the route's template (`/plants/:id`), not the URL a caller sent:
 * one series per route, however many plants, and no id or query string in a label.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
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

  /**
   * Counts every response of `app`, the API's own errors (401, 403, 404, 500) included; those
   * refused before routing are counted by countUnrouted.
   */
  install(app: FastifyInstance): void {
    app.addHook('onResponse', async (request, reply) => {
      this.record(
        request.routeOptions.url ?? UNMATCHED_ROUTE,
        request.method,
        reply.statusCode,
        reply.elapsedTime,
      );
    });
  }

  /**
   * Counts, once sent, an answer of fastify's frameworkErrors (a path that does not decode, a
   * parameter too long): refused before routing, it runs no hook, so install's never sees it.
   */
  countUnrouted(request: FastifyRequest, reply: FastifyReply): void {
    const started = performance.now();
    reply.raw.once('finish', () => {
      this.record(UNMATCHED_ROUTE, request.method, reply.raw.statusCode, performance.now() - started);
    });
  }

  private record(route: string, method: string, status: number, milliseconds: number): void {
    const labels = { route, method, status: String(status) };
    this.requests.inc(labels);
    this.seconds.observe(labels, milliseconds / 1000);
  }
}
