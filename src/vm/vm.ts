// One guest's lifecycle: define → start → agent ready → (power cut = destroy) → start … → undefine.
import { writeFile } from 'node:fs/promises';
import type { Domain } from '@unraid/libvirt';
import { GuestAgent } from './agent.js';
import { socketTransport, virshTransport } from './qga-transport.js';
import { hypervisor, lookupDomain } from './libvirt.js';
import { specProblems, type VmSpec } from './spec.js';
import { renderDomainXml } from './xml.js';

/** Written by our guest init (vm-images/init.sh) once network and shares are up. */
export const READY_MARKER = '/run/fth-ready';

export interface BootTiming {
  /** domain start call → guest ready (our image: agent opens READY_MARKER; else agent answers) */
  startToAgentMs: number;
}

export class Vm {
  readonly agent: GuestAgent;
  readonly xml: string;
  private domain?: Domain;

  constructor(readonly spec: VmSpec) {
    const problems = specProblems(spec);
    if (problems.length) throw new Error(`invalid VM spec for ${spec.name}: ${problems.join('; ')}`);
    this.xml = renderDomainXml(spec);
    this.agent = new GuestAgent(spec.name, spec.agentSocket ? socketTransport(spec.agentSocket) : virshTransport(spec.name));
  }

  get name() { return this.spec.name; }

  async define(xmlOut?: string): Promise<void> {
    if (xmlOut) await writeFile(xmlOut, this.xml);
    const h = await hypervisor();
    this.domain = await h.domainDefineXML(this.xml);
  }

  /** Start as a transient domain (libvirt forgets it when it stops): nothing to undefine. */
  async startTransient(xmlOut?: string): Promise<void> {
    if (xmlOut) await writeFile(xmlOut, this.xml);
    const h = await hypervisor();
    this.domain = await h.domainCreateXML(this.xml);
  }

  private async dom(): Promise<Domain> {
    this.domain ??= await lookupDomain(this.name);
    if (!this.domain) throw new Error(`domain ${this.name} is not defined`);
    return this.domain;
  }

  async isRunning(): Promise<boolean> {
    const d = await lookupDomain(this.name);
    if (!d) return false;
    const info = await d.getInfo();
    return info.state === 1; // VIR_DOMAIN_RUNNING
  }

  /** Start and wait until the guest is ready. */
  async boot(timeoutMs = 120_000): Promise<BootTiming> {
    const d = await this.dom();
    const t0 = Date.now();
    await d.create();
    // our image (kernel boot) marks readiness itself; a lab's disk image: the agent answering
    await this.agent.waitReady(timeoutMs, () => this.isRunning(), this.spec.boot.kind === 'kernel' ? READY_MARKER : undefined);
    return { startToAgentMs: Date.now() - t0 };
  }

  /** Power cut: the domain stops at once, no guest shutdown, no cache flush. */
  async destroy(): Promise<void> {
    const d = await lookupDomain(this.name);
    if (!d) return;
    if (await this.isRunning()) await d.destroy();
  }

  /** The live XML (what libvirt made of ours, e.g. with generated addresses and paths). */
  async liveXml(): Promise<string> {
    return (await this.dom()).getXMLDesc();
  }

  /** Destroy if running and forget the definition. Idempotent; a transient domain is gone
   *  once destroyed. */
  async remove(): Promise<void> {
    this.domain = undefined;
    const d = await lookupDomain(this.name);
    if (!d) return;
    try { await d.destroy(); } catch { /* not running */ }
    const still = await lookupDomain(this.name);
    if (still) await still.undefine();
    this.agent.close();
  }
}
