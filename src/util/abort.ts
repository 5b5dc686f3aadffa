// Cancellation: a run's steps are raced against its AbortSignal, so an interrupt is prompt even
// while a step waits on a guest. The loser keeps running until teardown takes its resources
// away; its outcome is swallowed.

/** Thrown when the run was asked to stop (signal, parent gone); `why` is e.g. "SIGTERM". */
export class Interrupted extends Error {
  constructor(readonly why: string) {
    super(`interrupted (${why})`);
  }
}

export function interruptReason(signal: AbortSignal): string {
  const r = signal.reason as unknown;
  return typeof r === 'string' ? r : r instanceof Error ? r.message : 'aborted';
}

/** `p`, unless `signal` aborts first: then Interrupted, and p's later outcome is ignored. */
export function raceAbort<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) {
    p.catch(() => undefined);
    return Promise.reject(new Interrupted(interruptReason(signal)));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => { p.catch(() => undefined); reject(new Interrupted(interruptReason(signal))); };
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => { signal.removeEventListener('abort', onAbort); resolve(v); },
      (e) => { signal.removeEventListener('abort', onAbort); reject(e); },
    );
  });
}
