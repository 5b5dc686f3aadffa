// The lab inventory: the hosts a lab run may use, each with how to reach it (SSH, with its host
// key pinned), its libvirt and its power method. Credentials are given by reference only: a key
// file or an environment variable, a BMC password variable — never inline (the schema has no
// field for one). Validated before anything starts; every problem names the file and field.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Ajv } from 'ajv';
import { parse } from 'yaml';

const EnvName = Type.String({ pattern: '^[A-Z_][A-Z0-9_]*$', description: 'an environment variable name' });
const LabHost = Type.Object({
  name: Type.String({ pattern: '^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$' }),
  ssh: Type.Object({
    host: Type.String({ minLength: 1 }),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    user: Type.String({ minLength: 1 }),
    key: Type.Union([
      Type.Object({ file: Type.String({ minLength: 1, description: 'private key file (relative to the inventory)' }) }, { additionalProperties: false }),
      Type.Object({ env: EnvName }, { additionalProperties: false }),
    ]),
    knownHost: Type.String({ pattern: '^(\\S+ )?(ssh-|ecdsa-|sk-)\\S+ [A-Za-z0-9+/=]+', description: 'the host key, as a known_hosts or .pub line' }),
  }, { additionalProperties: false }),
  libvirt: Type.Optional(Type.String({ pattern: '^qemu(\\+ssh)?://', description: 'default: qemu+ssh:// through the ssh settings, host key pinned' })),
  power: Type.Optional(Type.Object({
    ipmi: Type.Object({ host: Type.String({ minLength: 1 }), port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })), user: Type.String({ minLength: 1 }), passwordEnv: EnvName, cipher: Type.Optional(Type.Integer({ minimum: 0, maximum: 17 })) }, { additionalProperties: false }),
  }, { additionalProperties: false })),
}, { additionalProperties: false });
const Inventory = Type.Object({ hosts: Type.Array(LabHost, { minItems: 1 }) }, { additionalProperties: false });
export type LabHost = Static<typeof LabHost>;

export class LabInventoryError extends Error {}

export function parseLabInventory(text: string, file: string): LabHost[] {
  let data: unknown;
  try { data = parse(text); } catch (e) { throw new LabInventoryError(`${file}: YAML: ${(e as Error).message.split('\n')[0]}`); }
  const check = new Ajv({ allErrors: true, strict: false }).compile(Inventory);
  if (!check(data)) {
    const lines = (check.errors ?? []).filter((e) => e.keyword !== 'anyOf').map((e) => {
      const path = e.instancePath.split('/').slice(1).map((s, i) => (/^\d+$/.test(s) ? `[${s}]` : i ? `.${s}` : s)).join('') || '(top)';
      if (e.keyword === 'additionalProperties') return `${file}: ${path}.${e.params.additionalProperty}: unknown field${/pass|secret|token/i.test(String(e.params.additionalProperty)) ? ' (credentials are given by reference: key {file|env}, passwordEnv)' : ''}`;
      if (e.keyword === 'required') return `${file}: ${path}.${e.params.missingProperty}: required field is missing`;
      return `${file}: ${path}: ${e.message}`;
    });
    throw new LabInventoryError([...new Set(lines)].join('\n'));
  }
  const hosts = (data as Static<typeof Inventory>).hosts;
  const dup = hosts.findIndex((h, i) => hosts.findIndex((x) => x.name === h.name) !== i);
  if (dup >= 0) throw new LabInventoryError(`${file}: hosts[${dup}].name: Duplicate value: "${hosts[dup].name}"`);
  // key files are relative to the inventory
  return hosts.map((h) => ('file' in h.ssh.key ? { ...h, ssh: { ...h.ssh, key: { file: resolve(dirname(file), h.ssh.key.file) } } } : h));
}

export function loadLabInventory(file: string): LabHost[] {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (e) { throw new LabInventoryError(`${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`); }
  return parseLabInventory(text, file);
}
