/**
 * Where the API client finds the API: SOLAR_IOT_API_URL, and its token in SOLAR_IOT_API_TOKEN or
 * the file SOLAR_IOT_API_TOKEN_FILE (a private file: see readToken). Right after `npm start` both
 * come from its state file (src/app/stack-state.ts), so nothing has to be set by hand.
 */
import { isLoopbackHost } from '../api/settings.js';
import { ConfigError, ConfigProblems } from '../config/index.js';
import { readPrivateFile } from '../secrets/private-file.js';
import { isSendableToken } from './client.js';

export interface ApiClientSettings {
  readonly url: string;
  readonly token: string | undefined;
  /** A token going over plain http to another host: anyone on the way can read and replay it. */
  readonly warning?: string;
}

type Env = Record<string, string | undefined>;

export async function readApiClientSettings(env: Env): Promise<ApiClientSettings> {
  const problems = new ConfigProblems();
  const url = problems.read(() => readUrl(env.SOLAR_IOT_API_URL?.trim()));
  const token = await readToken(env).catch((error: unknown) => {
    if (!(error instanceof ConfigError)) throw error;
    for (const line of error.lines) problems.add(line);
    return undefined;
  });
  problems.throwIfAny();
  const { protocol, hostname } = new URL(url as string);
  if (!token || protocol !== 'http:' || isLoopbackHost(hostname)) return { url: url as string, token };
  return {
    url: url as string,
    token,
    warning: `the API token goes to ${hostname} over plain http, readable by anyone on the network path. Fix: reach the API through https (a TLS proxy in front of it), or from its own host or network namespace on 127.0.0.1`,
  };
}

/** Checked before any request: an HTTP library's error about a bad header value quotes it. */
function sendable(variable: string, token: string): string {
  if (isSendableToken(token)) return token;
  throw new ConfigError([
    {
      variable,
      problem: `(value hidden, ${token.length} characters) is not one word of visible ASCII characters, which an HTTP header cannot carry`,
      fix:
        variable === 'SOLAR_IOT_API_TOKEN_FILE'
          ? 'point it at the file holding only the API token (`npm start` writes .data/api.token), or set SOLAR_IOT_API_TOKEN'
          : 'set it to the API_TOKEN of the API (one word, e.g. from `solar-iot keygen`)',
    },
  ]);
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

/**
 * SOLAR_IOT_API_TOKEN, or the file SOLAR_IOT_API_TOKEN_FILE read as every secret file is
 * (readPrivateFile: a regular file of this user, not a link, that nobody else can read): a token
 * others can read is a token others hold, and a file someone else owns is a token they chose.
 */
async function readToken(env: Env): Promise<string | undefined> {
  const token = env.SOLAR_IOT_API_TOKEN?.trim();
  if (token) return sendable('SOLAR_IOT_API_TOKEN', token);
  const file = env.SOLAR_IOT_API_TOKEN_FILE?.trim();
  if (!file) return undefined;
  const refused = (problem: string) =>
    new ConfigError([
      {
        variable: 'SOLAR_IOT_API_TOKEN_FILE',
        problem,
        fix: 'point it at the file holding the API token, or set SOLAR_IOT_API_TOKEN',
      },
    ]);
  let content: string | undefined;
  try {
    content = await readPrivateFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== undefined) throw refused(`${file} cannot be read (${code})`);
    // readPrivateFile's own refusals say what is wrong and how to fix it (`<file>: ... Fix: ...`).
    throw new ConfigError([`SOLAR_IOT_API_TOKEN_FILE: ${(error as Error).message}`]);
  }
  if (content === undefined) throw refused(`${file} cannot be read (ENOENT)`);
  const value = content.trim();
  if (value) return sendable('SOLAR_IOT_API_TOKEN_FILE', value);
  throw refused(`${file} is empty`);
}
