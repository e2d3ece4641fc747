/** How a variable's raw value is read and shown in an error line. */

export type Env = Record<string, string | undefined>;

/** Never shown in an error line, whatever their value. */
const SECRET_VARIABLES = new Set([
  'ENCRYPTION_KEY',
  'ENCRYPTION_KEYS_PREVIOUS',
  'TEMPORAL_API_KEY',
  'TEMPORAL_TLS_CLIENT_KEY_DATA',
  'TEMPORAL_CODEC_AUTH',
  'TEMPORAL_CODEC_KEYS',
  'CODEC_SERVER_TOKEN',
  'API_TOKEN',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
]);

/** Shows a rejected value in an error line without revealing secrets or URL passwords. */
export function show(variable: string, raw: string): string {
  if (SECRET_VARIABLES.has(variable)) return `(value hidden, ${raw.length} characters)`;
  let text = raw;
  try {
    const url = new URL(raw);
    if (url.password) {
      url.password = '***';
      text = url.toString();
    }
  } catch {
    // not a URL: shown as is, but never a credential-looking user:pass@ fragment
    text = raw.replace(/\/\/([^/@:\s]+):([^/@\s]+)@/, '//$1:***@');
  }
  if (text.length > 120) text = `${text.slice(0, 117)}...`;
  return JSON.stringify(text);
}

/** The environment with every value trimmed and empty strings treated as unset (`FOO=` in a .env). */
export function cleanEnv(env: Env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) continue;
    const t = v.trim();
    if (t !== '') out[k] = t;
  }
  return out;
}
