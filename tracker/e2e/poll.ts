// Waiting in the browser tests: for a time, or for a condition to hold.
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** until polls f every `every` ms until it answers something truthy, which it returns; it throws after ms. */
export async function until<T>(what: string, f: () => T | undefined | false, ms = 20_000, every = 100): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await sleep(every);
  }
}
