// Registered systems under test. src/suts.ts registers each one in a line; the loader and the
// runner ask here, never for a SUT by name.
import type { Judge, StepDef, SutPlugin } from './api.js';

const plugins = new Map<string, SutPlugin>();
const stepOwners = new Map<string, SutPlugin>();

export function registerSut(p: SutPlugin): void {
  if (plugins.has(p.name)) throw new Error(`SUT "${p.name}" is registered twice`);
  for (const kind of Object.keys(p.steps)) {
    if (stepOwners.has(kind)) throw new Error(`SUT "${p.name}": step "${kind}" is already provided by ${stepOwners.get(kind)!.name}`);
  }
  plugins.set(p.name, p);
  for (const kind of Object.keys(p.steps)) stepOwners.set(kind, p);
  version++;
}

let version = 0;
/** Changes with every registration (the loader recompiles its schema then). */
export const registryVersion = () => version;

export function suts(): SutPlugin[] {
  return [...plugins.values()];
}

/** The plugin step `kind`, with its owner; undefined for core steps and unknown kinds. */
export function sutStep(kind: string): { sut: SutPlugin; def: StepDef } | undefined {
  const sut = stepOwners.get(kind);
  return sut ? { sut, def: sut.steps[kind] } : undefined;
}

/** A checker by its qualified name "<sut>/<name>". */
export function sutChecker(name: string): Judge | undefined {
  const [sut, check] = name.split('/');
  return plugins.get(sut)?.checkers?.[check];
}
