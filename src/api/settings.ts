/**
 * The HTTP API's own settings (the rest comes from src/config): API_TOKEN, API_HOST,
 * API_ALLOWED_HOSTS and API_METRICS_HOST / API_METRICS_PORT. Port: PORT, from the shared
 * configuration.
 */

import { isIP } from 'node:net';
import { ConfigError } from '../config/index.js';
import { readMetricsHost, readMetricsPort } from '../metrics/serve.js';

export const API_METRICS_PORT = 9467;

export const MIN_API_TOKEN_LENGTH = 16;

export interface ApiSettings {
  /**
   * Bearer token required on every route but the probes and the OpenAPI document. Unset is only
   * allowed on a loopback API_HOST (the API then serves any local caller).
   */
  readonly token: string | undefined;
  /** Interface to listen on; 127.0.0.1 by default, 0.0.0.0 in a container (needs a token). */
  readonly host: string;
  /**
   * Host names (optionally `name:port`) the API answers to besides localhost, 127.0.0.1 and [::1]
   * on its own port: the names clients use behind a proxy or in a container network. Any other
   * Host header is refused (DNS rebinding).
   */
  readonly allowedHosts: readonly string[];
  /** The Prometheus endpoint: loopback unless API_METRICS_HOST opens it; port 0 = none. */
  readonly metrics: { readonly host: string; readonly port: number };
}

/** 127.0.0.0/8, ::1 and localhost: reachable from this machine only. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (bare === 'localhost' || bare === '::1') return true;
  return isIP(bare) === 4 && bare.startsWith('127.');
}

const HOST_ENTRY = /^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

export function readApiSettings(env: Record<string, string | undefined> = process.env): ApiSettings {
  const token = env.API_TOKEN?.trim() || undefined;
  if (token !== undefined) {
    if (token.length < MIN_API_TOKEN_LENGTH || /\s/.test(token)) {
      throw new ConfigError([
        `API_TOKEN: (value hidden, ${token.length} characters) is ${/\s/.test(token) ? 'not a single word' : `shorter than ${MIN_API_TOKEN_LENGTH} characters`}. Fix: set it to a random string of at least ${MIN_API_TOKEN_LENGTH} characters without spaces (e.g. \`solar-iot keygen\`; \`npm start\` writes one to .data/api.token)`,
      ]);
    }
  }
  const host = env.API_HOST?.trim() || '127.0.0.1';
  if (!/^[A-Za-z0-9.:-]+$/.test(host)) {
    throw new ConfigError([
      `API_HOST: ${JSON.stringify(host.slice(0, 80))} is not a host name or IP address. Fix: use 127.0.0.1 (default), 0.0.0.0 (all interfaces, e.g. in a container; needs API_TOKEN) or ::`,
    ]);
  }
  if (!token && !isLoopbackHost(host)) {
    throw new ConfigError([
      `API_TOKEN: unset, but API_HOST ${host} is not a loopback address, so anyone who reaches it could call the API. Fix: set API_TOKEN to a random string of at least ${MIN_API_TOKEN_LENGTH} characters (e.g. \`solar-iot keygen\`), or listen on 127.0.0.1`,
    ]);
  }
  const allowedHosts = (env.API_ALLOWED_HOSTS ?? '')
    .split(',')
    .map((entry) => entry.trim().toLowerCase())
    .filter((entry) => entry !== '');
  const wrong = allowedHosts.find((entry) => !HOST_ENTRY.test(entry));
  if (wrong !== undefined) {
    throw new ConfigError([
      `API_ALLOWED_HOSTS: ${JSON.stringify(wrong.slice(0, 80))} is not a host name, [IPv6] or name:port. Fix: a comma-separated list such as api.example.com,solar-iot-api:3000`,
    ]);
  }
  const metrics = {
    host: readMetricsHost('API_METRICS_HOST', env.API_METRICS_HOST),
    port: readMetricsPort('API_METRICS_PORT', env.API_METRICS_PORT, API_METRICS_PORT),
  };
  return { token, host, allowedHosts, metrics };
}
