import type { Store } from './store';
import { randomId } from './ids';

// Session rules (shared by the bootstrap and the recorder, so the sampling decision the bootstrap
// takes is the one the recorder sees):
//   - one session per site per browser profile, shared by all tabs through localStorage;
//   - it ends after IDLE_MS without visitor activity or MAX_MS after it started, whichever first;
//   - whether it is recorded (sampled) is decided once, when it is created, from the sample rate.
export const IDLE_MS = 30 * 60 * 1000;
export const MAX_MS = 4 * 60 * 60 * 1000;

export interface Session {
  i: string; // session id
  s: number; // started, ms since epoch
  l: number; // last activity, ms since epoch
  p: 0 | 1; // sampled in
}

// prefix is the storage namespace of one site.
export function prefix(siteKey: string): string {
  return '_sl_' + siteKey + '_';
}

export function live(x: Session, now: number): boolean {
  return now - x.l <= IDLE_MS && now - x.s <= MAX_MS && x.s <= now + 60000;
}

export function readSession(st: Store, k: string): Session | null {
  try {
    const x = JSON.parse(st.get(k + 's') || 'null');
    if (x && typeof x.i === 'string' && typeof x.s === 'number' && typeof x.l === 'number') return x;
  } catch {
    /* corrupt entry: treated as no session */
  }
  return null;
}

// touchSession records activity at now and returns the live session, creating one (and taking its
// sampling decision with rnd) when there is none or the stored one has ended.
export function touchSession(st: Store, k: string, now: number, rate: number, rnd: () => number): Session {
  let x = readSession(st, k);
  if (!x || !live(x, now)) x = { i: randomId('s_'), s: now, l: now, p: rnd() < rate ? 1 : 0 };
  else x.l = Math.max(x.l, now);
  st.set(k + 's', JSON.stringify(x));
  return x;
}

export function visitorId(st: Store, k: string): string {
  let v = st.get(k + 'v');
  if (!v || !/^v_[\w-]{6,62}$/.test(v)) {
    v = randomId('v_');
    st.set(k + 'v', v);
  }
  return v;
}

// nextSeq allocates the next sequence number of a session from shared storage. floor is the
// smallest value the caller may get (one past the last number this tab used, or one past the
// highest value another tab was seen to store), so numbers are strictly increasing per tab even
// when storage is unavailable or stale. Two tabs flushing within the same instant can read the
// same counter (localStorage has no compare-and-set); the window is the storage propagation delay
// between renderer processes, and the storage event listener in the recorder narrows it further.
export function nextSeq(st: Store, k: string, sessionId: string, floor: number): number {
  let n = 0;
  const raw = st.get(k + 'n');
  if (raw) {
    const sp = raw.indexOf(' ');
    if (raw.slice(0, sp) === sessionId) n = parseInt(raw.slice(sp + 1), 10) || 0;
  }
  n = Math.max(n, floor);
  st.set(k + 'n', sessionId + ' ' + (n + 1));
  return n;
}

// storedSeq reads the counter another tab wrote (for the storage event listener).
export function storedSeq(raw: string | null, sessionId: string): number {
  if (!raw) return 0;
  const sp = raw.indexOf(' ');
  return raw.slice(0, sp) === sessionId ? parseInt(raw.slice(sp + 1), 10) || 0 : 0;
}

// forget removes everything the tracker stored for a site and leaves only the opt-out marker, so
// later page loads stay silent without identifying anyone.
export function forget(st: Store, k: string): void {
  for (const s of ['s', 'v', 'n', 'c', 'u']) st.del(k + s);
  st.set(k + 'o', '1');
}

// dntEnabled: Do-Not-Track (navigator, or window in old Safari) or Global Privacy Control.
export function dntEnabled(nav: Navigator, win: Window): boolean {
  const n = nav as Navigator & { globalPrivacyControl?: boolean };
  return n.doNotTrack == '1' || (win as Window & { doNotTrack?: string }).doNotTrack == '1' || !!n.globalPrivacyControl;
}

