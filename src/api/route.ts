/**
 * One definition per route: fastify registration, zod validation of params / query / body, and
 * the route's OpenAPI operation, from the same object, so the document cannot forget a route
 * or describe a parameter the code does not read.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { InvalidInputError } from '../service/errors.js';
import { jsonDepthExceeds } from '../service/json-depth.js';
import { ErrorBody } from './schemas.js';

/** No route needs more (a shadow's state: 6 levels under `desired`; command params: 16). */
export const MAX_BODY_DEPTH = 32;

export type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

type AnyObject = z.ZodType<Record<string, unknown>>;

export interface RouteSpec<
  P extends AnyObject | undefined,
  Q extends AnyObject | undefined,
  B extends z.ZodType | undefined,
  R extends z.ZodType,
> {
  method: Method;
  /** fastify syntax: `/plants/:id`. */
  url: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  /** No API_TOKEN needed (health checks, the OpenAPI document). */
  public?: boolean;
  params?: P;
  query?: Q;
  body?: B;
  /** The body's media types, documented instead of JSON alone (each must parse to what `body` takes). */
  bodyMediaTypes?: Record<string, z.ZodType>;
  /** A tighter nesting bound than MAX_BODY_DEPTH, with the reason given to the caller. */
  bodyDepth?: { max: number; reason: string };
  /** Success status and body. */
  status: number;
  response: R;
  /** Other statuses with a body of their own (e.g. 503 for /readyz); errors use the Error schema. */
  otherResponses?: Record<number, z.ZodType>;
  /** Error statuses this route can answer besides 401 (added for protected routes) and 500. */
  errors: number[];
  handler(
    input: {
      params: P extends z.ZodType ? z.output<P> : undefined;
      query: Q extends z.ZodType ? z.output<Q> : undefined;
      body: B extends z.ZodType ? z.output<B> : undefined;
    },
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<z.input<R>>;
}

export interface RegisteredRoute {
  method: Method;
  url: string;
  operationId: string;
  summary: string;
  description: string | undefined;
  tag: string;
  public: boolean;
  params: AnyObject | undefined;
  query: AnyObject | undefined;
  body: z.ZodType | undefined;
  bodyMediaTypes: Record<string, z.ZodType> | undefined;
  /** Every documented status with its body schema. */
  responses: Map<number, z.ZodType>;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Set on routes that need no API token. */
    public?: boolean;
  }
}

const DESCRIPTIONS: Record<number, string> = {
  200: 'OK',
  202: 'Accepted: the operation runs in the background',
  400: 'Invalid input',
  401: 'Missing or wrong API token',
  404: 'Not found',
  409: 'Conflicts with the current state',
  500: 'Unexpected error',
  503: 'A dependency (Temporal, PostgreSQL, AWS) is unavailable or not configured',
  504: 'No answer within the deadline; the error says whether the work goes on and what to do',
};

export function statusDescription(status: number): string {
  return DESCRIPTIONS[status] ?? 'Response';
}

const MAX_PROBLEMS = 5;

function shorten(text: string, max = 200): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

function parse<T extends z.ZodType>(schema: T, value: unknown, where: string): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  // zod names unknown keys in full: a caller's 100 KB key (or 3,000 keys) is not echoed back.
  const problems = result.error.issues.slice(0, MAX_PROBLEMS).map((i) => {
    const path = [where, ...i.path.map(String)].join('.');
    return shorten(`${path}: ${i.message}`);
  });
  const more = result.error.issues.length - problems.length;
  throw new InvalidInputError(`${problems.join('; ')}${more > 0 ? ` (and ${more} more)` : ''}`);
}

/** Collects the routes for the OpenAPI document while registering them with fastify. */
export class RouteTable {
  readonly routes: RegisteredRoute[] = [];

  add<
    P extends AnyObject | undefined,
    Q extends AnyObject | undefined,
    B extends z.ZodType | undefined,
    R extends z.ZodType,
  >(app: FastifyInstance, spec: RouteSpec<P, Q, B, R>): void {
    const responses = new Map<number, z.ZodType>([[spec.status, spec.response]]);
    for (const [status, schema] of Object.entries(spec.otherResponses ?? {}))
      responses.set(Number(status), schema);
    const errors = new Set([...spec.errors, 500, ...(spec.public ? [] : [401])]);
    if (spec.params || spec.query || spec.body) errors.add(400);
    for (const status of errors) if (!responses.has(status)) responses.set(status, ErrorBody);
    this.routes.push({
      method: spec.method,
      url: spec.url,
      operationId: spec.operationId,
      summary: spec.summary,
      description: spec.description,
      tag: spec.tag,
      public: spec.public ?? false,
      params: spec.params,
      query: spec.query,
      body: spec.body,
      bodyMediaTypes: spec.bodyMediaTypes,
      responses,
    });

    app.route({
      method: spec.method,
      url: spec.url,
      config: { public: spec.public ?? false },
      handler: async (request, reply) => {
        // Before zod or anything recursive touches it (see json-depth.ts).
        const depth = spec.bodyDepth ?? {
          max: MAX_BODY_DEPTH,
          reason: `this API accepts at most ${MAX_BODY_DEPTH} levels`,
        };
        if (jsonDepthExceeds(request.body, depth.max)) {
          throw new InvalidInputError(
            `The request body nests objects or arrays too deep: ${depth.reason}`,
            'body_too_deep',
          );
        }
        const input = {
          params: spec.params ? parse(spec.params, request.params, 'params') : undefined,
          query: spec.query ? parse(spec.query, request.query, 'query') : undefined,
          body: spec.body ? parse(spec.body, request.body ?? {}, 'body') : undefined,
        } as Parameters<typeof spec.handler>[0];
        reply.code(spec.status);
        return spec.handler(input, request, reply);
      },
    });
  }
}
