// @vitest-environment happy-dom
// @vitest-environment-options {"url":"https://shop.example.com/product/42?utm=x","settings":{"handleDisabledFileLoadingAsSuccess":true}}
import { describe, it, expect, beforeEach } from 'vitest';
import { clearPage, loads, runBootstrap } from './bootstrapenv';

// The committed dist/bootstrap.js decides whether the feedback bundle loads: only where the site
// has something active for this page, behind the same DNT and consent gates as recording.
const FB = 'https://ingest.test/static/feedback.abc.js';
const REC = 'https://ingest.test/static/recorder.abc.js';
const base = { siteKey: 'k_fb', endpoint: 'https://ingest.test/i/v1/batch', recorderUrl: REC, feedbackUrl: FB, answerEndpoint: 'https://ingest.test/i/v1/answer', sampleRate: 0, feedback: null, surveys: [] };
type W = typeof window & { sightline?: ((...a: unknown[]) => void) & { q?: ArrayLike<unknown>[]; c?: { q?: unknown[] } } };
const w = window as W;
const run = runBootstrap;
const widget = (pages: object[]) => ({ position: 'right', color: '#123456', language: '', texts: { tab: '', title: '', prompt: '', thanks: '' }, element: false, pages });
const survey = (pages: object[], start: number | null = null, end: number | null = null) => ({ id: '9007199254740993', questions: [], target: { pages }, trigger: { kind: 'load' }, start, end });
let dnt: string | null = null;

beforeEach(() => {
  // First: the bootstraps of earlier tests still watch this window's history, and count the
  // navigation as a page view of their sessions (sampled out) in storage.
  history.replaceState(null, '', '/product/42?utm=x');
  clearPage();
  dnt = null;
  Object.defineProperty(navigator, 'doNotTrack', { configurable: true, get: () => dnt });
});

describe('bootstrap: the feedback bundle', () => {
  it('loads nothing when the site has nothing active', () => {
    run(base);
    expect(loads()).toEqual([]);
  });

  it('loads for a widget whose page rules match, even for a visit not sampled in', () => {
    run({ ...base, feedback: widget([{ op: 'pattern', value: '/product/*' }]) });
    expect(loads()).toEqual([FB]);
    delete w.sightline;
    document.head.innerHTML = '';
    run({ ...base, feedback: widget([]) }); // no rules: every page
    expect(loads()).toEqual([FB]);
  });

  it('does not load for rules of other pages or a survey outside its window', () => {
    run({ ...base, feedback: widget([{ op: 'equals', value: '/cart' }]), surveys: [survey([{ op: 'prefix', value: '/checkout' }]), survey([], Date.now() + 60000), survey([], null, Date.now() - 1)] });
    expect(loads()).toEqual([]);
    delete w.sightline;
    run({ ...base, surveys: [survey([{ op: 'equals', value: 'https://shop.example.com/product/42/' }], Date.now() - 1, Date.now() + 60000)] });
    expect(loads()).toEqual([FB]);
  });

  it('a single-page app reaching a targeted page loads it then, once', async () => {
    // (Bootstraps of earlier tests still watch this window's history: a path none of them targets.)
    run({ ...base, surveys: [survey([{ op: 'prefix', value: '/basket' }])] });
    expect(loads()).toEqual([]);
    history.pushState(null, '', '/about');
    await new Promise((r) => setTimeout(r, 10));
    expect(loads()).toEqual([]);
    history.pushState(null, '', '/basket/pay');
    await new Promise((r) => setTimeout(r, 10));
    history.pushState(null, '', '/basket/done');
    await new Promise((r) => setTimeout(r, 10));
    expect(loads()).toEqual([FB]);
  });

  it('honours Do-Not-Track and consent like recording', () => {
    dnt = '1';
    run({ ...base, feedback: widget([]) });
    expect(loads()).toEqual([]);
    dnt = null;
    delete w.sightline;
    run({ ...base, sampleRate: 1, requireConsent: true, feedback: widget([]) });
    expect(loads()).toEqual([]);
    w.sightline!('identify', 'u1', { plan: 'pro' });
    w.sightline!('consent', true);
    expect(loads()).toEqual([FB, REC]);
    // The queue stays reachable through the settings for the bundle (the recorder replaces the global).
    expect(Array.from(w.sightline!.c!.q!, (a) => Array.from(a as ArrayLike<unknown>)[0])).toEqual(['identify', 'consent']);
  });

  it('a consent the snippet queued before the script arrived counts; so does a refusal', () => {
    w.sightline = Object.assign(function () {}, { q: [['identify', 'u1', {}], ['consent', true]] as unknown[][] });
    run({ ...base, sampleRate: 1, requireConsent: true, feedback: widget([]) });
    expect(loads()).toEqual([FB, REC]);
    expect(Array.from(w.sightline!.q!, (a) => Array.from(a)[0])).toEqual(['identify', 'consent']);
    localStorage.clear();
    delete w.sightline;
    document.head.innerHTML = '';
    w.sightline = Object.assign(function () {}, { q: [['consent', false]] as unknown[][] });
    run({ ...base, sampleRate: 1, feedback: widget([]) });
    expect(loads()).toEqual([]);
    expect(Object.keys(localStorage)).toEqual(['_sl_k_fb_o']);
  });
});
