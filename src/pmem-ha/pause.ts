// --pause-at: make an agent block forever at one exact protocol point, after recording it, so
// the harness can cut power precisely there. Parsing and matching live here; blocking is the
// caller's `wait` (the agent records status.json, then waits until shutdown).

export const PRIMARY_PAUSE_POINTS = ['before-first-chunk', 'after-chunks', 'before-manifest', 'after-manifest', 'after-signal'] as const;
export const STANDBY_PAUSE_POINTS = ['before-restore-write', 'after-restore-chunks', 'before-journal-done'] as const;
export type PrimaryPausePoint = (typeof PRIMARY_PAUSE_POINTS)[number];
export type StandbyPausePoint = (typeof STANDBY_PAUSE_POINTS)[number];
export type PausePoint = PrimaryPausePoint | StandbyPausePoint;

/** Points that take a count `:k` (chunks stored / chunks written). */
const COUNTED = new Set<PausePoint>(['after-chunks', 'after-restore-chunks']);

export interface PauseAt {
  point: PausePoint;
  /** For counted points: pause once exactly k chunks are done. */
  k?: number;
}

export function parsePauseAt(text: string, role: 'primary' | 'standby'): PauseAt {
  const [point, kText, ...rest] = text.split(':');
  const allowed: readonly string[] = role === 'primary' ? PRIMARY_PAUSE_POINTS : STANDBY_PAUSE_POINTS;
  if (!allowed.includes(point) || rest.length > 0) {
    throw new Error(`--pause-at ${JSON.stringify(text)} is not a ${role} phase; use one of ${allowed.map((p) => (COUNTED.has(p as PausePoint) ? `${p}:k` : p)).join(', ')}`);
  }
  const p = point as PausePoint;
  if (COUNTED.has(p)) {
    const k = Number(kText);
    if (kText === undefined || !Number.isSafeInteger(k) || k < 0) throw new Error(`--pause-at ${p} needs a chunk count, e.g. ${p}:3`);
    return { point: p, k };
  }
  if (kText !== undefined) throw new Error(`--pause-at ${p} takes no count`);
  return { point: p };
}

export function pauseLabel(p: PauseAt): string {
  return p.k === undefined ? p.point : `${p.point}:${p.k}`;
}

/** The caller's blocking action: records the pause, then never resolves (or rejects on abort). */
export type PauseWait = (label: string) => Promise<void>;

export interface PauseControl {
  at: PauseAt;
  wait: PauseWait;
}

/** A PauseWait that blocks until `signal` aborts (then rejects with its reason). */
export function blockUntilAborted(signal: AbortSignal, onPaused?: (label: string) => void): PauseWait {
  return (label) =>
    new Promise<void>((_, reject) => {
      onPaused?.(label);
      if (signal.aborted) return reject(signal.reason);
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
}
