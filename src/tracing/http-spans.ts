/**
 * A server span per HTTP request of a fastify app, `<METHOD> <route template>` (e.g.
 * `POST /plants`), joined to the caller's trace when it sends a W3C `traceparent`. The route's
 * handler runs inside it, so what the handler starts (a workflow, through the Temporal client
 * interceptor) belongs to the request's trace. It records method, route and status: never the
 * path's values, the query, a header or a body.
 */
import {
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteHandlerMethod } from 'fastify';

/** Probes an orchestrator calls every few seconds: a trace each would be noise. */
const UNTRACED_ROUTES = new Set(['/healthz', '/readyz']);

/** Must run before the routes are added (onRoute wraps their handlers) and before other onRequest hooks. */
export function installHttpSpans(app: FastifyInstance, tracer: Tracer): void {
  const requests = new WeakMap<FastifyRequest, { span: Span; context: Context }>();

  app.addHook('onRequest', (request, _reply, done) => {
    const route = request.routeOptions.url;
    if (route && UNTRACED_ROUTES.has(route)) return done();
    const span = tracer.startSpan(
      route ? `${request.method} ${route}` : request.method,
      {
        kind: SpanKind.SERVER,
        attributes: { 'http.request.method': request.method, ...(route ? { 'http.route': route } : {}) },
      },
      propagation.extract(ROOT_CONTEXT, request.headers),
    );
    requests.set(request, { span, context: trace.setSpan(ROOT_CONTEXT, span) });
    done();
  });

  app.addHook('onRoute', (route) => {
    const handler = route.handler as (this: FastifyInstance, ...args: unknown[]) => unknown;
    route.handler = function (this: FastifyInstance, request: FastifyRequest, reply: FastifyReply) {
      const entry = requests.get(request);
      return entry
        ? context.with(entry.context, handler, this, request, reply)
        : handler.call(this, request, reply);
    } as RouteHandlerMethod;
  });

  const end = (request: FastifyRequest, status: number | undefined) => {
    const entry = requests.get(request);
    if (!entry) return;
    requests.delete(request);
    if (status === undefined) {
      entry.span.setAttribute('error.type', 'aborted');
      entry.span.setStatus({ code: SpanStatusCode.ERROR });
    } else {
      entry.span.setAttribute('http.response.status_code', status);
      // A 4xx is the caller's error, not the server's (OpenTelemetry's HTTP conventions).
      if (status >= 500) entry.span.setStatus({ code: SpanStatusCode.ERROR });
    }
    entry.span.end();
  };
  app.addHook('onResponse', (request, reply, done) => {
    end(request, reply.statusCode);
    done();
  });
  app.addHook('onRequestAbort', (request, done) => {
    end(request, undefined);
    done();
  });
}
