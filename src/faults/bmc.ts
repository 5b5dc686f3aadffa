// Power control of a host through its BMC: IPMI over LAN (ipmitool -I lanplus … chassis power
// off|on|status; force off is the cut). The password is named by reference (an environment
// variable, taken out of the environment when the run starts) and reaches ipmitool through its
// own environment (-E), never its argv. Redfish ComputerSystem.Reset ForceOff/On would be a
// second implementation of the same BmcPower interface.
import { execa } from 'execa';
import { heldSecret } from '../util/held-secrets.js';

export interface IpmiTarget { host: string; port?: number; user: string; passwordEnv: string; cipher?: number }
export type PowerAction = 'off' | 'on' | 'status';

export interface BmcAnswer { action: PowerAction; answer: string; ms: number }

export async function ipmiPower(t: IpmiTarget, action: PowerAction, timeoutMs = 20_000): Promise<BmcAnswer> {
  const password = heldSecret(t.passwordEnv);
  if (password === undefined) throw new Error(`BMC ${t.host}: environment variable ${t.passwordEnv} (its password) is not set`);
  const t0 = Date.now();
  // -C 3 (RAKP-HMAC-SHA1, AES-CBC-128): a fixed cipher suite, no discovery round trips
  const r = await execa('ipmitool', ['-I', 'lanplus', '-C', String(t.cipher ?? 3), '-H', t.host, '-p', String(t.port ?? 623), '-U', t.user, '-E', '-N', '2', '-R', '2', 'chassis', 'power', action], {
    reject: false, timeout: timeoutMs, env: { IPMI_PASSWORD: password }, extendEnv: false,
  });
  const answer = (r.stdout || r.stderr).trim().split('\n').pop() ?? '';
  if (r.exitCode !== 0) throw new Error(`BMC ${t.user}@${t.host}:${t.port ?? 623}: chassis power ${action} failed (exit ${r.exitCode}): ${(r.stderr || r.stdout).trim().split('\n')[0]}`);
  return { action, answer, ms: Date.now() - t0 };
}
