// Credentials given to ftharness in its environment are taken out of it at start-up: every
// process ftharness starts (virsh, qemu-img, host-check shells, daemons) would otherwise inherit
// them and show them in /proc/<pid>/environ. They stay in this process only, registered for
// redaction, and are handed back where a store is opened (withHeldSecrets).
import { registerSecret } from '../shared/redact.js';

const HELD = ['FTH_S3_ACCESS_KEY_ID', 'FTH_S3_SECRET_ACCESS_KEY', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'];
const held: Record<string, string> = {};

export function holdSecretsFromEnv(env: NodeJS.ProcessEnv = process.env): void {
  for (const k of HELD) {
    const v = env[k];
    if (!v) continue;
    held[k] = v;
    registerSecret(v.trim());
    delete env[k];
  }
}

/** The environment as it was given, credentials included (for reading the store settings). */
export function withHeldSecrets(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, ...held };
}

/** Take a credential the configuration names by reference (e.g. a BMC's passwordEnv) out of the
 *  environment, as the fixed ones are: idempotent; undefined when it was never set. */
export function heldSecret(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (held[name] === undefined && env[name]) {
    held[name] = env[name]!;
    registerSecret(held[name].trim());
    delete env[name];
  }
  return held[name];
}
