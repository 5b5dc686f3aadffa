// Locality over time from an exact access-counter series (cumulative counts per vCPU × memory
// node: [readsUser, writesUser, readsKernel, writesKernel]). The time to 90 % local accesses
// after a tenant's threads move is read from the counters themselves: the move is the first
// interval in which the (otherwise idle) destination vCPUs make accesses.

export interface CounterSample { t: number; c: number[][][] }
export interface IntervalLocality { t: number; local: number; remote: number; fraction: number | null }

function accesses(cell: number[], userOnly: boolean): number {
  return userOnly ? cell[0] + cell[1] : cell[0] + cell[1] + cell[2] + cell[3];
}

/** Per interval (between consecutive samples): accesses of `vcpus` to their own node vs others.
 *  vcpuNode[v] = the node of vCPU v. fraction is null when there were no accesses. */
export function intervalLocality(samples: CounterSample[], vcpuNode: number[], opts: { vcpus?: number[]; userOnly?: boolean } = {}): IntervalLocality[] {
  const vcpus = opts.vcpus ?? vcpuNode.map((_, v) => v);
  const userOnly = opts.userOnly ?? true;
  const out: IntervalLocality[] = [];
  for (let k = 1; k < samples.length; k++) {
    let local = 0, remote = 0;
    for (const v of vcpus) {
      const a = samples[k].c[v], b = samples[k - 1].c[v];
      if (!a || !b) throw new Error(`counter sample ${k}: no vCPU ${v}`);
      a.forEach((cell, node) => {
        const d = accesses(cell, userOnly) - accesses(b[node], userOnly);
        if (d < 0) throw new Error(`counter sample ${k}: counts went backwards (vCPU ${v}, node ${node})`);
        if (node === vcpuNode[v]) local += d; else remote += d;
      });
    }
    out.push({ t: samples[k].t, local, remote, fraction: local + remote > 0 ? local / (local + remote) : null });
  }
  return out;
}

/** The start of the first interval in which the destination vCPUs made at least `minAccesses`
 *  user accesses: the tenant's threads arrived (the destination CPUs are otherwise idle). Read
 *  from the counters, so no guest clock is involved; the move happened within that interval.
 *  undefined if they never did. */
export function detectArrival(samples: CounterSample[], toVcpus: number[], minAccesses: number): number | undefined {
  const tot = (s: CounterSample) => toVcpus.reduce((a, v) => a + s.c[v].reduce((x, cell) => x + cell[0] + cell[1], 0), 0);
  for (let k = 1; k < samples.length; k++) if (tot(samples[k]) - tot(samples[k - 1]) >= minAccesses) return samples[k - 1].t;
  return undefined;
}

/** ms from tMove until the local fraction is ≥ target in `sustain` consecutive intervals (the
 *  time counted to the end of the first of them); null = not reached. */
export function timeToFraction(intervals: IntervalLocality[], tMove: number, target = 0.9, sustain = 2): number | null {
  const after = intervals.filter((x) => x.t >= tMove);
  for (let i = 0; i + sustain <= after.length; i++) {
    if (after.slice(i, i + sustain).every((x) => x.fraction !== null && x.fraction >= target)) return after[i].t - tMove;
  }
  return null;
}

/** Share of the hot pages that live on `node` (pageNodes from move_pages status). */
export function hotLocalFraction(pageNodes: ArrayLike<number>, hot: Iterable<number>, node: number): number {
  let n = 0, local = 0;
  for (const p of hot) { n++; if (pageNodes[p] === node) local++; }
  return n ? local / n : 1;
}

/** Area under L(t) from tMove over `spanMs` (fraction·ms; intervals without accesses count 0),
 *  normalised to [0, 1]: 1 = local from the first instant. */
export function areaUnderLocality(intervals: IntervalLocality[], tMove: number, spanMs: number): number {
  let area = 0, prevT = tMove;
  for (const x of intervals) {
    if (x.t <= tMove) continue;
    const end = Math.min(x.t, tMove + spanMs);
    if (end > prevT) area += (x.fraction ?? 0) * (end - prevT);
    prevT = end;
    if (x.t >= tMove + spanMs) break;
  }
  return spanMs > 0 ? area / spanMs : 0;
}
