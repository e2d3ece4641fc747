/**
 * The HTTP API's own settings (the rest comes from src/config): API_TOKEN and API_HOST.
 * Port: PORT, from the shared configuration.
 */

export const MIN_API_TOKEN_LENGTH = 16;

export interface ApiSettings {
  /** Bearer token required on every route but the health checks and the OpenAPI document; unset = open. */
  readonly token: string | undefined;
  /** Interface to listen on; 127.0.0.1 by default, 0.0.0.0 in a container. */
  readonly host: string;
}

/** One line: the variable, what is wrong, how to fix it. The token itself is never shown. */
export class ApiSettingsError extends Error {
  override readonly name = 'ApiSettingsError';
}

export function readApiSettings(env: Record<string, string | undefined> = process.env): ApiSettings {
  const token = env.API_TOKEN?.trim() || undefined;
  if (token !== undefined) {
    if (token.length < MIN_API_TOKEN_LENGTH || /\s/.test(token)) {
      throw new ApiSettingsError(
        `API_TOKEN: (value hidden, ${token.length} characters) is ${/\s/.test(token) ? 'not a single word' : `shorter than ${MIN_API_TOKEN_LENGTH} characters`}. Fix: set it to a random string of at least ${MIN_API_TOKEN_LENGTH} characters without spaces (e.g. \`solar-iot keygen\`), or unset it to leave the API open`,
      );
    }
  }
  const host = env.API_HOST?.trim() || '127.0.0.1';
  if (!/^[A-Za-z0-9.:-]+$/.test(host)) {
    throw new ApiSettingsError(
      `API_HOST: ${JSON.stringify(host)} is not a host name or IP address. Fix: use 127.0.0.1 (default), 0.0.0.0 (all interfaces, e.g. in a container) or ::`,
    );
  }
  return { token, host };
}
