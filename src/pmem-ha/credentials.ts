// Where the agent gets its S3 credentials: from a JSON file named by FTH_S3_CREDENTIALS_FILE
// (what the harness hands it: a 0600 file on the VM's control share, so the secret is in no
// process's argv or environment), else from FTH_S3_ACCESS_KEY_ID / FTH_S3_SECRET_ACCESS_KEY
// (for running the agent by hand). Never from arguments.
import { readFileSync } from 'node:fs';

export const ENV_ACCESS_KEY = 'FTH_S3_ACCESS_KEY_ID';
export const ENV_SECRET_KEY = 'FTH_S3_SECRET_ACCESS_KEY';
export const ENV_REGION = 'FTH_S3_REGION';
export const ENV_CREDENTIALS_FILE = 'FTH_S3_CREDENTIALS_FILE';

export interface S3Credentials { accessKeyId: string; secretAccessKey: string; region: string }

/** The credentials, or the one-line reason there are none (never containing a secret). */
export function credentialsFromEnv(env: NodeJS.ProcessEnv = process.env): S3Credentials | string {
  const file = env[ENV_CREDENTIALS_FILE];
  if (file) {
    let c: Partial<S3Credentials>;
    try {
      c = JSON.parse(readFileSync(file, 'utf8')) as Partial<S3Credentials>;
    } catch (e) {
      return `${ENV_CREDENTIALS_FILE}=${file}: cannot read it as JSON (${(e as NodeJS.ErrnoException).code ?? 'bad JSON'})`;
    }
    if (!c.accessKeyId || !c.secretAccessKey) return `${ENV_CREDENTIALS_FILE}=${file}: needs accessKeyId and secretAccessKey`;
    return { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, region: c.region ?? env[ENV_REGION] ?? 'us-east-1' };
  }
  const accessKeyId = env[ENV_ACCESS_KEY];
  const secretAccessKey = env[ENV_SECRET_KEY];
  if (!accessKeyId || !secretAccessKey) return `set ${ENV_CREDENTIALS_FILE} (a JSON file) or ${ENV_ACCESS_KEY} and ${ENV_SECRET_KEY} in the environment (credentials are never taken from arguments)`;
  return { accessKeyId, secretAccessKey, region: env[ENV_REGION] ?? 'us-east-1' };
}
