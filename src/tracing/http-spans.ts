/**
 * A server span per HTTP request of a fastify app, `<METHOD> <route template>` (e.g.
 * `POST /plants`). The route's handler runs inside it, so what the handler starts (a workflow,
 * through the Temporal client interceptor) belongs to the request's trace. It records method,
 * route and status: never the path's values, the query, a header or a body.
 *
 * A caller's W3C `traceparent` is joined only when `honoursTraceContext` says so (the API: the
 * caller sent the API token). Anyone else's request, refused or not, starts a trace of its own,
 * without even a link to theirs: otherwise whoever reaches the port could hang spans (a burst of
 * 401s) under an operator's trace id, or learn from the collector which requests were theirs.
 * So the span is started once the hooks that authenticate have run, back-dated to the request's
 * arrival: lazily, by the handler or, for a request answered earlier, by onResponse.
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

export interface HttpSpanOptions {
  /** Whether the request's `traceparent` may make its span a child of the caller's (asked after the onRequest hooks). */
  honoursTraceContext(request: FastifyRequest): boolean;
}

interface RequestSpan {
  span: Span;
  context: Context;
}

/** Must run before the routes are added (onRoute wraps their handlers) and before other onRequest hooks. */
export function installHttpSpans(app: FastifyInstance, tracer: Tracer, options: HttpSpanOptions): void {
  /** A request being traced: when it arrived (performance.now()), and its span once started. */
  const requests = new WeakMap<FastifyRequest, { arrived: number; started?: RequestSpan }>();

  app.addHook('onRequest', (request, _reply, done) => {
    const route = request.routeOptions.url;
    if (!(route && UNTRACED_ROUTES.has(route))) requests.set(request, { arrived: performance.now() });
    done();
  });

  const spanOf = (request: FastifyRequest): RequestSpan | undefined => {
    const entry = requests.get(request);
    if (!entry || entry.started) return entry?.started;
    const route = request.routeOptions.url;
    const parent = options.honoursTraceContext(request)
      ? propagation.extract(ROOT_CONTEXT, request.headers)
      : ROOT_CONTEXT;
    const span = tracer.startSpan(
      route ? `${request.method} ${route}` : request.method,
      {
        kind: SpanKind.SERVER,
        attributes: { 'http.request.method': request.method, ...(route ? { 'http.route': route } : {}) },
        startTime: entry.arrived,
      },
      parent,
    );
    entry.started = { span, context: trace.setSpan(ROOT_CONTEXT, span) };
    return entry.started;
  };

  app.addHook('onRoute', (route) => {
    const handler = route.handler as (this: FastifyInstance, ...args: unknown[]) => unknown;
    route.handler = function (this: FastifyInstance, request: FastifyRequest, reply: FastifyReply) {
      const entry = spanOf(request);
      return entry
        ? context.with(entry.context, handler, this, request, reply)
        : handler.call(this, request, reply);
    } as RouteHandlerMethod;
  });

  const end = (request: FastifyRequest, status: number | undefined) => {
    const entry = spanOf(request);
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
    // A start time was given: the end's must come from the same clock, or the SDK takes Date.now().
    entry.span.end(performance.now());
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
