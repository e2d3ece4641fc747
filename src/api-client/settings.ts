/**
 * Where the API client finds the API: SOLAR_IOT_API_URL, and its token in SOLAR_IOT_API_TOKEN or
 * the file SOLAR_IOT_API_TOKEN_FILE (a mounted secret). Right after `npm start` both come from its
 * state file (src/app/stack-state.ts), so nothing has to be set by hand.
 */
import { readFileSync } from 'node:fs';
import { ConfigError, ConfigProblems } from '../config/index.js';

export interface ApiClientSettings {
  readonly url: string;
  readonly token: string | undefined;
}

type Env = Record<string, string | undefined>;

export function readApiClientSettings(env: Env): ApiClientSettings {
  const problems = new ConfigProblems();
  const url = problems.read(() => readUrl(env.SOLAR_IOT_API_URL?.trim()));
  const token = problems.read(() => readToken(env));
  problems.throwIfAny();
  return { url: url as string, token };
}

function readUrl(raw: string | undefined): string {
  if (!raw) {
    throw new ConfigError([
      {
        variable: 'SOLAR_IOT_API_URL',
        problem: 'is not set, and no `npm start` of this checkout is running',
        fix: 'start the stack with `npm start` (its commands find it), or set it to the URL of the HTTP API, e.g. http://127.0.0.1:3000',
      },
    ]);
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    url = new URL('invalid:');
  }
  if (!['http:', 'https:'].includes(url.protocol) || url.username || url.password) {
    throw new ConfigError([
      {
        variable: 'SOLAR_IOT_API_URL',
        problem: `${JSON.stringify(raw.slice(0, 80))} is not an http(s) URL without credentials`,
        fix: 'set it to the URL of the HTTP API, e.g. http://127.0.0.1:3000; the token goes in SOLAR_IOT_API_TOKEN',
      },
    ]);
  }
  return raw;
}

function readToken(env: Env): string | undefined {
  const token = env.SOLAR_IOT_API_TOKEN?.trim();
  if (token) return token;
  const file = env.SOLAR_IOT_API_TOKEN_FILE?.trim();
  if (!file) return undefined;
  try {
    const value = readFileSync(file, 'utf8').trim();
    if (value) return value;
  } catch (error) {
    throw new ConfigError([
      {
        variable: 'SOLAR_IOT_API_TOKEN_FILE',
        problem: `${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
        fix: 'point it at the file holding the API token, or set SOLAR_IOT_API_TOKEN',
      },
    ]);
  }
  throw new ConfigError([
    {
      variable: 'SOLAR_IOT_API_TOKEN_FILE',
      problem: `${file} is empty`,
      fix: 'point it at the file holding the API token, or set SOLAR_IOT_API_TOKEN',
    },
  ]);
}
