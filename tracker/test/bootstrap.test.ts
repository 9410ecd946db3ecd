// @vitest-environment happy-dom
// @vitest-environment-options {"settings":{"handleDisabledFileLoadingAsSuccess":true}}
import { describe, it, expect, beforeEach } from 'vitest';
import { clearPage, loads, runBootstrap, template } from './bootstrapenv';
import type { Config } from '../src/config';
// @ts-expect-error plain ES module
import { siteConfig } from '../e2e/server.mjs';

// These run the committed dist/bootstrap.js, rendered the way ingest renders it.
const base: Config = siteConfig('https://ingest.test', 'k_boot', { recorderUrl: 'https://ingest.test/static/recorder.abc.js' });
type W = typeof window & { sightline?: ((...a: unknown[]) => void) & { q?: ArrayLike<unknown>[]; l?: number } };
const w = window as W;

const run = runBootstrap;
let dnt: string | null = null;

beforeEach(() => {
  clearPage();
  dnt = null;
  Object.defineProperty(navigator, 'doNotTrack', { configurable: true, get: () => dnt });
});

describe('bootstrap', () => {
  it('installs the queue and loads the recorder once for a sampled visit', () => {
    w.sightline = Object.assign(function () {}, { q: [['identify', 'u1', {}]] as unknown[][] });
    run(base);
    run(base); // loaded twice: harmless
    expect(loads()).toEqual([base.recorderUrl]);
    w.sightline!('event', 'signup', { plan: 'pro' });
    const q = Array.from(w.sightline!.q!, (a) => Array.from(a));
    expect(q).toEqual([['identify', 'u1', {}], ['event', 'signup', { plan: 'pro' }]]);
    expect(JSON.parse(localStorage.getItem('_sl_k_boot_s')!).p).toBe(1);
  });

  it('loads nothing for a sampled-out session, and keeps that decision', () => {
    run({ ...base, sampleRate: 0 });
    expect(loads()).toEqual([]);
    delete w.sightline;
    run({ ...base, sampleRate: 1 }); // same session: still out
    expect(loads()).toEqual([]);
  });

  it('respects Do-Not-Track unless the site opts out of it', () => {
    dnt = '1';
    run(base);
    expect(loads()).toEqual([]);
    expect(localStorage.length).toBe(0);
    delete w.sightline;
    run({ ...base, respectDnt: false });
    expect(loads()).toEqual([base.recorderUrl]);
  });

  it('waits for consent when required; a refusal forgets and sticks', () => {
    run({ ...base, requireConsent: true });
    expect(loads()).toEqual([]);
    expect(localStorage.length).toBe(0);
    w.sightline!('consent', true);
    expect(loads()).toEqual([base.recorderUrl]);
    w.sightline!('consent', false);
    expect(Object.keys(localStorage)).toEqual(['_sl_k_boot_o']);
    document.head.innerHTML = '';
    delete w.sightline;
    run(base);
    expect(loads()).toEqual([]);
  });

  it('works without storage: records, passes its sampling decision on, honours consent on the page', () => {
    const desc = Object.getOwnPropertyDescriptor(window, 'localStorage')!;
    Object.defineProperty(window, 'localStorage', { configurable: true, get: () => { throw new Error('blocked'); } });
    try {
      run(base);
      expect(loads()).toEqual([base.recorderUrl]);
      expect((w.sightline as unknown as { s: { p: number; i: string } }).s).toMatchObject({ p: 1, i: expect.stringMatching(/^s_/) });
      document.head.innerHTML = '';
      delete w.sightline;
      run({ ...base, requireConsent: true });
      expect(loads()).toEqual([]);
      w.sightline!('consent', true);
      expect(loads()).toEqual([base.recorderUrl]);
    } finally {
      Object.defineProperty(window, 'localStorage', desc);
    }
  });

  it('does nothing with an unrendered template or a disabled site', () => {
    (0, eval)(template);
    run({ ...base, recording: false });
    expect(loads()).toEqual([]);
  });
});
