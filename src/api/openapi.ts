/** The OpenAPI 3.1 document, generated from the route table and its zod schemas. */
import { z } from 'zod';
import { type RegisteredRoute, statusDescription } from './route.js';

type JsonSchema = Record<string, unknown>;

export interface OpenApiDocument {
  openapi: '3.1.0';
  info: { title: string; version: string; description: string };
  paths: Record<string, Record<string, unknown>>;
  components: { schemas: Record<string, JsonSchema>; securitySchemes: Record<string, unknown> };
}

/** `/plants/:id` -> `/plants/{id}` */
export function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

class SchemaCollector {
  readonly components: Record<string, JsonSchema> = {};

  convert(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
    const json = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;
    const { $schema: _ignored, $defs, ...rest } = json as JsonSchema & { $defs?: Record<string, JsonSchema> };
    for (const [id, def] of Object.entries($defs ?? {})) this.components[id] = this.rewrite(def);
    return this.rewrite(rest);
  }

  private rewrite(schema: JsonSchema): JsonSchema {
    return JSON.parse(JSON.stringify(schema).replaceAll('"#/$defs/', '"#/components/schemas/')) as JsonSchema;
  }
}

export function buildOpenApiDocument(routes: readonly RegisteredRoute[], version: string): OpenApiDocument {
  const schemas = new SchemaCollector();
  const paths: OpenApiDocument['paths'] = {};

  for (const route of routes) {
    const parameters: unknown[] = [];
    for (const [location, schema] of [
      ['path', route.params],
      ['query', route.query],
    ] as const) {
      if (!schema) continue;
      const json = schemas.convert(schema, 'input') as {
        properties?: Record<string, JsonSchema>;
        required?: string[];
      };
      for (const [name, property] of Object.entries(json.properties ?? {})) {
        const { description, ...rest } = property as JsonSchema & { description?: string };
        parameters.push({
          name,
          in: location,
          required: location === 'path' || (json.required ?? []).includes(name),
          ...(description ? { description } : {}),
          schema: rest,
        });
      }
    }
    const responses: Record<string, unknown> = {};
    for (const [status, schema] of [...route.responses.entries()].sort(([a], [b]) => a - b)) {
      responses[String(status)] = {
        description: statusDescription(status),
        content: { 'application/json': { schema: schemas.convert(schema, 'output') } },
      };
    }
    const body = route.body ? schemas.convert(route.body, 'input') : undefined;
    const content = route.bodyMediaTypes
      ? Object.fromEntries(
          Object.entries(route.bodyMediaTypes).map(([type, schema]) => [
            type,
            { schema: schemas.convert(schema, 'input') },
          ]),
        )
      : { 'application/json': { schema: body } };
    const operation = {
      operationId: route.operationId,
      summary: route.summary,
      ...(route.description ? { description: route.description } : {}),
      tags: [route.tag],
      ...(parameters.length ? { parameters } : {}),
      ...(body
        ? {
            requestBody: {
              required:
                route.bodyMediaTypes !== undefined ||
                (Array.isArray(body.required) && body.required.length > 0),
              content,
            },
          }
        : {}),
      responses,
      security: route.public ? [] : [{ bearerAuth: [] }],
    };
    const path = openApiPath(route.url);
    paths[path] = { ...paths[path], [route.method.toLowerCase()]: operation };
  }

  return {
    openapi: '3.1.0',
    info: {
      title: 'solar-iot plant service',
      version,
      description:
        'Plants and their AWS IoT identity: create and delete plants (provisioning runs as Temporal workflows), read and set thing shadows, send commands, backfill. Errors are JSON: {"error": {"code", "message"}}. Every route answers 403 to a Host header the API does not serve (DNS rebinding) and to a browser Origin of another site (the probes /healthz and /readyz excepted).',
    },
    paths,
    components: {
      schemas: schemas.components,
      securitySchemes: {
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          description: 'The API_TOKEN the server was started with',
        },
      },
    },
  };
}
