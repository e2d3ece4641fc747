/**
 * Refuses what a web page in the operator's browser could send: requests whose `Host` is not a
 * name this API serves (DNS rebinding: evil.example resolving to 127.0.0.1) and requests with a
 * foreign `Origin` (cross-site requests). Both answer 403 before the token is even looked at.
 * The probes (/healthz, /readyz) are exempt: orchestrators send the pod's address as Host, and
 * without the token they say nothing but up / ready.
 */
import { isIP } from 'node:net';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { errorPayload } from './errors.js';
import { isLoopbackHost } from './settings.js';

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];
const ANY_INTERFACE = new Set(['0.0.0.0', '::', '[::]']);

function split(host: string): { name: string; port: string | undefined } {
  const lower = host.toLowerCase();
  const at = lower.startsWith('[') ? lower.indexOf(']') + 1 : lower.lastIndexOf(':');
  if (at <= 0 || lower[at] !== ':') return { name: lower, port: undefined };
  return { name: lower.slice(0, at), port: lower.slice(at + 1) };
}

export interface HostRules {
  /** API_ALLOWED_HOSTS: `name` (any port) or `name:port`. */
  allowedHosts: readonly string[];
  /** API_HOST: a specific address the API listens on is a name it serves too. */
  listenHost?: string | undefined;
}

/** Loopback names (and the listen address) on the port the request came in on; configured names. */
export function hostServed(host: string, localPort: number, rules: HostRules): boolean {
  const { name, port } = split(host);
  const portMatches = port === undefined ? localPort === 80 : port === String(localPort);
  const listen = rules.listenHost?.toLowerCase();
  // An IPv6 address arrives in Host in brackets: [fd00::5]:3000.
  const ownAddresses =
    listen && !ANY_INTERFACE.has(listen) && !isLoopbackHost(listen)
      ? [isIP(listen) === 6 ? `[${listen}]` : listen]
      : [];
  if ([...LOOPBACK_NAMES, ...ownAddresses].includes(name)) return portMatches;
  return rules.allowedHosts.some((entry) => {
    const allowed = split(entry);
    return allowed.name === name && (allowed.port === undefined || allowed.port === port);
  });
}

/** An Origin is ours when it is http(s) on a host this API serves. `null` (sandboxed, file:) is not. */
export function originServed(origin: string, localPort: number, rules: HostRules): boolean {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  // URL drops a scheme's default port: https://localhost is port 443, not the bare Host's 80.
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return hostServed(`${url.hostname}:${port}`, localPort, rules);
}

const PROBES = new Set(['/healthz', '/readyz']);

/** Shows a caller's value in a message without echoing kilobytes back. */
function quote(value: string): string {
  return JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}…` : value);
}

export function installBrowserGuard(app: FastifyInstance, rules: HostRules): void {
  app.addHook('onRequest', async (request: FastifyRequest, reply) => {
    if (request.method === 'GET' && PROBES.has(request.url.split('?')[0] ?? '')) return;
    const localPort = request.socket.localPort ?? 0;
    const host = request.headers.host ?? '';
    if (!hostServed(host, localPort, rules)) {
      return reply
        .code(403)
        .send(
          errorPayload(
            'forbidden_host',
            `Host ${quote(host)} is not a name this API serves: it answers to localhost, 127.0.0.1 and [::1] on port ${localPort}, and to the names in API_ALLOWED_HOSTS (a web page reaching it through DNS rebinding is refused). Fix: call it by one of those names, or add this one to API_ALLOWED_HOSTS`,
          ),
        );
    }
    const origin = request.headers.origin;
    if (origin !== undefined && !originServed(origin, localPort, rules)) {
      return reply
        .code(403)
        .send(
          errorPayload(
            'forbidden_origin',
            `Origin ${origin.length > 100 ? `${origin.slice(0, 100)}…` : origin} is not this API's: requests from web pages of other sites are refused (cross-site request forgery). Call the API from a script, the CLI or curl, which send no Origin`,
          ),
        );
    }
  });
}
