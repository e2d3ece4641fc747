/**
 * Shared infrastructure (the shared policy, the shared topic rule) is made sure of at most once
 * per `ttlMs` per worker process, not once per plant: the calls in between cost AWS nothing. A
 * failed check is not remembered, and a resource deleted out of band is back within `ttlMs`
 * (reconcile reports it meanwhile), or at once when a caller that found it missing asks for a
 * fresh check.
 */
export function recheckEvery(ttlMs: number, check: () => Promise<void>, now: () => number = Date.now) {
  let last: { at: number; done: Promise<void> } | undefined;
  return ({ fresh = false }: { fresh?: boolean } = {}): Promise<void> => {
    if (!fresh && last && now() - last.at < ttlMs) return last.done;
    const done = check();
    const entry = { at: now(), done };
    last = entry;
    done.catch(() => {
      if (last === entry) last = undefined;
    });
    return done;
  };
}

/** How long a worker trusts its last check of shared infrastructure. */
export const SHARED_RESOURCE_TTL_MS = 60_000;
