// Debian's Chromium driven by playwright-core (no browser download).
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const ARGS = ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

export function launch() {
  return startedOnceMore(() => chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true }));
}

// startedOnceMore starts a browser with start(), and once more when the first one died while
// starting: Debian's Chromium was seen to crash (SIGSEGV) before it opened any page, on a loaded
// machine (make test, 2026-12-04). Nothing of ours runs in it by then; any other failure, or a
// second crash, is the test's. The web e2e harness starts its browsers through this too.
export async function startedOnceMore(start) {
  try {
    return await start();
  } catch (e) {
    const msg = String(e?.message ?? e);
    if (!/signal=SIG|browser has been closed/.test(msg)) throw e;
    console.warn('Chromium died while starting; starting it once more:', msg.split('\n')[0]);
    return start();
  }
}
