/**
 * Which AWS `npm start` talks to. The emulator, always, unless the user opts in with
 * SOLAR_IOT_REAL_AWS=true: an AWS_PROFILE or real keys in the shell (common on an operator's
 * laptop) must never make a dev stack create things, certificates and policies in that account.
 *
 * Emulator: the children get `test` credentials and none of the user's (profile, keys, session,
 * role, container/SSO settings). Real AWS: the credentials and region come from the SDK's own
 * chain (environment, profile, SSO, role; no forced region), and the stack first asks STS who it
 * is, so the account id and region are printed before anything is created.
 */

import { AWS_CREDENTIAL_VARIABLES } from '../../src/app/stack-state.js';

export const REAL_AWS_VARIABLE = 'SOLAR_IOT_REAL_AWS';

export const EMULATOR_CREDENTIALS = { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' } as const;

export class RealAwsOptInError extends Error {
  override readonly name = 'RealAwsOptInError';
}

/** SOLAR_IOT_REAL_AWS: true/1 opts in; unset/false/0 = emulator; anything else is refused. */
export function wantsRealAws(env: Readonly<Record<string, string | undefined>>): boolean {
  const raw = env[REAL_AWS_VARIABLE]?.trim().toLowerCase();
  if (!raw || raw === 'false' || raw === '0') return false;
  if (raw === 'true' || raw === '1') {
    if (env.AWS_ENDPOINT_URL?.trim()) {
      throw new RealAwsOptInError(
        `${REAL_AWS_VARIABLE}=true and AWS_ENDPOINT_URL are both set. Fix: unset AWS_ENDPOINT_URL for real AWS, or ${REAL_AWS_VARIABLE} for the emulator`,
      );
    }
    return true;
  }
  throw new RealAwsOptInError(
    `${REAL_AWS_VARIABLE}=${JSON.stringify(raw)} is not true or false. Fix: set ${REAL_AWS_VARIABLE}=true to use the AWS account of your credentials, or unset it for the emulator`,
  );
}

/** `env` with the user's credential settings replaced by `test` keys (also moto's own: its botocore
 * fails every request when AWS_PROFILE names a profile it cannot find). */
export function withEmulatorCredentials(
  env: Readonly<Record<string, string | undefined>>,
): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = { ...env };
  for (const k of AWS_CREDENTIAL_VARIABLES) delete out[k];
  return { ...out, ...EMULATOR_CREDENTIALS };
}

/** Resources of the user's AWS (a queue, an ATS endpoint, a role) that a fresh emulator lacks. */
const ACCOUNT_RESOURCES = [
  'AWS_SQS_QUEUE_URL',
  'AWS_SQS_DEAD_LETTER_QUEUE_URL',
  'AWS_IOT_ENDPOINT',
  'AWS_IOT_ROLE_ARN',
];

/**
 * The environment for an emulator: the user's credential settings removed, `test` keys set.
 * `fresh` (the moto npm start runs itself): the user's queue URL, ATS endpoint and role too, which
 * name another account's resources (requests to the real queue host, a region that contradicts
 * the emulator's); an emulator the user runs (AWS_ENDPOINT_URL) keeps what they created in it.
 */
export function emulatorEnvironment(
  env: Readonly<Record<string, string | undefined>>,
  endpoint: string,
  options: { fresh?: boolean } = {},
): Record<string, string | undefined> {
  const out = withEmulatorCredentials(env);
  if (options.fresh) for (const k of ACCOUNT_RESOURCES) delete out[k];
  return { ...out, AWS_ENDPOINT_URL: endpoint };
}

export interface RealAwsIdentity {
  accountId: string;
  arn: string;
  region: string;
}

/**
 * Who the SDK's default chain is, and in which region (from the chain too: AWS_REGION, the
 * profile's region...). Throws a one-line error naming the fix when either is missing.
 */
export async function describeRealAws(): Promise<RealAwsIdentity> {
  const { STSClient, GetCallerIdentityCommand } = await import('@aws-sdk/client-sts');
  const sts = new STSClient({});
  try {
    let region: string;
    try {
      region = await sts.config.region();
    } catch {
      throw new RealAwsOptInError(
        `${REAL_AWS_VARIABLE}=true but no AWS region is configured. Fix: set AWS_REGION, or a region in your profile (aws configure set region <region>)`,
      );
    }
    try {
      const me = await sts.send(new GetCallerIdentityCommand({}));
      return { accountId: me.Account ?? '?', arn: me.Arn ?? '?', region };
    } catch (err) {
      throw new RealAwsOptInError(
        `${REAL_AWS_VARIABLE}=true but AWS did not say who you are (STS GetCallerIdentity: ${(err as Error).message.split('\n')[0]}). Fix: log in (aws sso login, AWS_PROFILE) or unset ${REAL_AWS_VARIABLE} to use the emulator`,
      );
    }
  } finally {
    sts.destroy();
  }
}
