import { describe, it, expect } from 'vitest';
import { touchSession, nextSeq, storedSeq, forget, visitorId, prefix, live, IDLE_MS, MAX_MS, readSession } from '../src/session';
import { blocked } from '../src/gate';
import { memStore } from './memstore';

const k = prefix('k_test');
const T0 = 1_763_890_000_000;
const never = () => {
  throw new Error('sampling must be decided once per session');
};

describe('session rules', () => {
  it('creates a session and keeps it while the visitor is active', () => {
    const st = memStore();
    const a = touchSession(st, k, T0, 1, () => 0.5);
    expect(a.i).toMatch(/^s_[A-Za-z0-9_-]{22,62}$/);
    expect(a.p).toBe(1);
    // Activity every 29 minutes for 3.5 hours: same session throughout, sampling not re-rolled.
    let t = T0;
    for (let i = 0; i < 7; i++) {
      t += 29 * 60 * 1000;
      expect(touchSession(st, k, t, 1, never).i).toBe(a.i);
    }
    expect(readSession(st, k)!.l).toBe(t);
  });

  it('ends after 30 minutes idle', () => {
    const st = memStore();
    const a = touchSession(st, k, T0, 1, () => 0);
    expect(touchSession(st, k, T0 + IDLE_MS, 1, never).i).toBe(a.i);
    const b = touchSession(st, k, T0 + 2 * IDLE_MS + 1, 1, () => 0);
    expect(b.i).not.toBe(a.i);
    expect(b.s).toBe(T0 + 2 * IDLE_MS + 1);
  });

  it('ends after 4 hours however active', () => {
    const st = memStore();
    const a = touchSession(st, k, T0, 1, () => 0);
    let t = T0;
    while (t + 60_000 <= T0 + MAX_MS) {
      t += 60_000;
      touchSession(st, k, t, 1, never);
    }
    expect(readSession(st, k)!.i).toBe(a.i);
    expect(touchSession(st, k, T0 + MAX_MS + 1, 1, () => 0).i).not.toBe(a.i);
  });

  it('is shared by tabs through storage', () => {
    const shared = new Map<string, string>();
    const tab1 = memStore(shared);
    const tab2 = memStore(shared);
    const a = touchSession(tab1, k, T0, 1, () => 0);
    expect(touchSession(tab2, k, T0 + 1000, 1, never).i).toBe(a.i);
    expect(visitorId(tab1, k)).toBe(visitorId(tab2, k));
  });

  it('treats corrupt or future-dated storage as no session', () => {
    const st = memStore();
    st.set(k + 's', '{not json');
    expect(touchSession(st, k, T0, 1, () => 0).i).toMatch(/^s_/);
    st.set(k + 's', JSON.stringify({ i: 's_x', s: T0 + 3_600_000, l: T0 + 3_600_000, p: 1 }));
    expect(live(readSession(st, k)!, T0)).toBe(false);
    expect(touchSession(st, k, T0, 1, () => 0).i).not.toBe('s_x');
  });
});

describe('sampling', () => {
  it('decides once per session from the sample rate', () => {
    const st = memStore();
    const out = touchSession(st, k, T0, 0.25, () => 0.3);
    expect(out.p).toBe(0);
    // A sampled-out session stays out for its lifetime even when later rolls would say yes.
    expect(touchSession(st, k, T0 + 1000, 0.25, () => 0).p).toBe(0);
    // A new session rolls again.
    expect(touchSession(st, k, T0 + MAX_MS + 1, 0.25, () => 0.1).p).toBe(1);
  });

  it('honours rate 0 and 1 and approximates fractions', () => {
    expect(touchSession(memStore(), k, T0, 0, () => 0).p).toBe(0);
    expect(touchSession(memStore(), k, T0, 1, () => 0.999999).p).toBe(1);
    let seed = 42;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    let n = 0;
    for (let i = 0; i < 10000; i++) n += touchSession(memStore(), k, T0, 0.1, rnd).p;
    expect(n).toBeGreaterThan(850);
    expect(n).toBeLessThan(1150);
  });
});

describe('sequence numbers', () => {
  it('are strictly increasing per session across tabs and page views', () => {
    const shared = new Map<string, string>();
    const tabs = [memStore(shared), memStore(shared), memStore(shared)];
    const floors = [0, 0, 0];
    const seen: number[] = [];
    for (let i = 0; i < 30; i++) {
      const t = i % 3;
      const s = nextSeq(tabs[t], k, 's_one', floors[t]);
      floors[t] = s + 1;
      seen.push(s);
    }
    expect(seen).toEqual(Array.from({ length: 30 }, (_, i) => i));
  });

  it('restart at 0 for a new session', () => {
    const st = memStore();
    expect(nextSeq(st, k, 's_one', 0)).toBe(0);
    expect(nextSeq(st, k, 's_one', 0)).toBe(1);
    expect(nextSeq(st, k, 's_two', 0)).toBe(0);
  });

  it('never go backwards in a tab when storage is lost or stale', () => {
    const st = memStore();
    expect(nextSeq(st, k, 's_one', 0)).toBe(0);
    expect(nextSeq(st, k, 's_one', 1)).toBe(1);
    st.del(k + 'n'); // storage cleared by the browser
    expect(nextSeq(st, k, 's_one', 2)).toBe(2);
    expect(storedSeq('s_one 17', 's_one')).toBe(17);
    expect(storedSeq('s_two 17', 's_one')).toBe(0);
    expect(storedSeq(null, 's_one')).toBe(0);
  });
});

describe('consent and Do-Not-Track', () => {
  const nav = (dnt: string | null, gpc = false) => ({ doNotTrack: dnt, globalPrivacyControl: gpc }) as unknown as Navigator;
  const win = {} as Window;

  it('respects DNT and GPC only when the site says so', () => {
    const st = memStore();
    expect(blocked({}, st, k, nav('1'), win)).toBe(true);
    expect(blocked({}, st, k, nav(null, true), win)).toBe(true);
    expect(blocked({ respectDnt: false }, st, k, nav('1'), win)).toBe(false);
    expect(blocked({}, st, k, nav('0'), win)).toBe(false);
    expect(blocked({ recording: false } as object, st, k, nav('0'), win)).toBe(false); // the recorder's own check
  });

  it('waits for consent when required and remembers a refusal', () => {
    const st = memStore();
    expect(blocked({ requireConsent: true }, st, k, nav(null), win)).toBe(true);
    st.set(k + 'c', '1');
    expect(blocked({ requireConsent: true }, st, k, nav(null), win)).toBe(false);
    touchSession(st, k, T0, 1, () => 0);
    visitorId(st, k);
    nextSeq(st, k, 's_x', 0);
    forget(st, k);
    expect([...st.m.keys()]).toEqual([k + 'o']);
    expect(blocked({}, st, k, nav(null), win)).toBe(true);
  });
});
