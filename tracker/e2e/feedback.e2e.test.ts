// The feedback widget and surveys in Chromium, against fixture pages served on one origin and a
// capturing ingest on another (e2e/feedback-server.mjs): the widget intact on two very different
// pages (global `all: unset` with !important rules; dark, right-to-left, huge type) without moving
// anything on them, an answer sent with the element pointed at, a survey answered by keyboard
// alone, no bundle request where nothing is active, reduced motion, and a strict CSP.
// Screenshots go to e2e/screenshots/.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdirSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
// @ts-expect-error plain ES module
import { startFeedbackServers } from './feedback-server.mjs';
// @ts-expect-error plain ES module
import { launch } from './browser.mjs';

interface Answer {
  query: URLSearchParams;
  headers: Record<string, string>;
  body: Record<string, any>;
}
interface Servers {
  siteOrigin: string;
  ingestOrigin: string;
  log: { method: string; path: string }[];
  answers: Answer[];
  batches: { sessionId: string; visitorId: string; pageViewId: string }[];
  close(): Promise<void>;
}

// Screenshots to look at (not committed: every run rewrites them).
const SHOTS = process.env.SCREENSHOT_DIR ? process.env.SCREENSHOT_DIR.replace(/\/?$/, '/') : new URL('../test-results/feedback/', import.meta.url).pathname;
const SURVEY_ID = '9007199254740993'; // above 2^53: an int64 that only a string carries
const widget = (over: object = {}) => ({
  position: 'right',
  color: '#d9480f',
  language: 'en',
  texts: { tab: '', title: '', prompt: '', thanks: '' },
  element: true,
  pages: [],
  ...over,
});
const survey = {
  id: SURVEY_ID,
  language: 'en',
  thanks: 'Thanks, that helps!',
  questions: [
    { id: 1, type: 'nps', text: 'How likely are you to recommend us to a friend?', required: true, choices: [], low: '', high: '', skip: [{ choices: [], min: 0, max: 6, to: 3 }] },
    { id: 2, type: 'single', text: 'What did you like most?', required: true, choices: [{ id: 1, label: 'Prices' }, { id: 2, label: 'Delivery' }, { id: 3, label: 'Choice' }], low: '', high: '', skip: [] },
    { id: 3, type: 'long', text: 'What should we improve?', required: false, choices: [], low: '', high: '', skip: [] },
  ],
  target: { pages: [{ op: 'pattern', value: '/fixtures/feedback/survey*' }], devices: ['desktop'], visitors: '', attrs: [{ k: 'plan', v: 'pro' }] },
  trigger: { kind: 'load', seconds: 0, scroll: 0, event: '' },
  sample: 1,
  once: true,
  start: null,
  end: null,
};

const CONFIGS = {
  k_fb: { feedback: widget() },
  k_dark: { feedback: widget({ position: 'bottom-left', color: '#2f9e44', language: 'fr', element: false }), sampleRate: 0 },
  k_survey: { surveys: [survey], sampleRate: 1 },
  // Something for other pages only: this page must not pay for it.
  k_none: { feedback: widget({ pages: [{ op: 'prefix', value: '/elsewhere' }] }), surveys: [{ ...survey, target: { ...survey.target, pages: [{ op: 'equals', value: '/checkout' }] } }] },
  k_spa: { feedback: widget({ pages: [{ op: 'prefix', value: '/app/help' }] }), sampleRate: 0 },
  k_consent: { requireConsent: true, sampleRate: 0, feedback: widget() },
  k_triggers: {
    sampleRate: 0,
    surveys: [
      { ...survey, id: '5000000001', target: { pages: [], devices: [], visitors: '', attrs: [] }, trigger: { kind: 'event', seconds: 0, scroll: 0, event: 'checkout' } },
      { ...survey, id: '5000000002', target: { pages: [], devices: [], visitors: '', attrs: [] }, trigger: { kind: 'scroll', seconds: 0, scroll: 80, event: '' } },
    ],
  },
};

let browser: Browser;
let srv: Servers;
beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  browser = await launch();
  srv = await startFeedbackServers({ configs: CONFIGS });
});
afterAll(async () => {
  await browser?.close();
  await srv?.close();
});

async function open(path: string, opts: { reducedMotion?: 'reduce' | 'no-preference'; width?: number } = {}): Promise<{ ctx: BrowserContext; page: Page }> {
  const ctx = await browser.newContext({ viewport: { width: opts.width || 1280, height: 800 }, reducedMotion: opts.reducedMotion || 'no-preference' });
  const page = await ctx.newPage();
  await page.goto(srv.siteOrigin + path);
  return { ctx, page };
}

// boxes: where the page's own elements are, and how big the document is.
const boxes = (page: Page) =>
  page.evaluate(() => {
    const r = (s: string) => {
      const b = document.querySelector(s)!.getBoundingClientRect();
      return [b.x, b.y, b.width, b.height].map((v) => Math.round(v * 10) / 10);
    };
    return { main: r('#main'), hero: r('#hero'), doc: [document.documentElement.scrollWidth, document.documentElement.scrollHeight] };
  });

const until = async (f: () => boolean, ms = 10000) => {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
};

describe('feedback widget', () => {
  it('renders intact over a page that resets everything, moves nothing, and sends rating, comment and element', async () => {
    // The same page without the snippet is the reference for its layout.
    const ref = await open('/fixtures/feedback/reset.html?norec=1');
    const before = await boxes(ref.page);
    await ref.ctx.close();

    const { ctx, page } = await open('/fixtures/feedback/reset.html?k=k_fb');
    const tab = page.locator('[data-sightline=feedback] >> .tab');
    await tab.waitFor();
    expect(await boxes(page)).toEqual(before);
    const style = await tab.evaluate((e) => {
      const s = getComputedStyle(e);
      const r = e.getBoundingClientRect();
      return { bg: s.backgroundColor, display: s.display, right: Math.round(innerWidth - r.right), w: r.width, h: r.height };
    });
    expect(style).toMatchObject({ bg: 'rgb(217, 72, 15)', display: 'block', right: 0 });
    expect(style.h).toBeGreaterThan(style.w); // a vertical tab on the right edge
    await page.screenshot({ path: SHOTS + 'widget-reset-tab.png', animations: 'disabled' });

    await tab.click();
    const dlg = page.locator('[data-sightline=feedback] >> [role=dialog]');
    await dlg.waitFor();
    expect(await dlg.getAttribute('aria-modal')).toBe('true');
    const d = await dlg.evaluate((e) => {
      const r = e.getBoundingClientRect();
      const s = getComputedStyle(e);
      return { w: r.width, h: r.height, bg: s.backgroundColor, font: s.fontSize, color: s.color, faces: e.querySelectorAll('[role=radio] svg').length };
    });
    expect(d).toMatchObject({ w: 340, bg: 'rgb(255, 255, 255)', font: '14px', color: 'rgb(29, 29, 31)', faces: 5 });
    expect(d.h).toBeGreaterThan(200);
    expect(await boxes(page)).toEqual(before);

    // Focus starts in the faces; arrow keys move the choice.
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    expect(await dlg.locator('[aria-checked=true]').getAttribute('aria-label')).toBe('Like');
    await dlg.locator('textarea').fill('The wallet photo is too small');
    await page.screenshot({ path: SHOTS + 'widget-reset-open.png', animations: 'disabled' });

    // Point at an element: the dialog steps aside, an outline follows the pointer, a click picks.
    await dlg.locator('button.l').click();
    const card = await page.locator('#target').boundingBox();
    await page.mouse.move(card!.x + 30, card!.y + 30);
    await page.mouse.move(card!.x + 40, card!.y + 40);
    const outline = page.locator('[data-sightline=feedback] >> .o');
    await outline.waitFor();
    await page.screenshot({ path: SHOTS + 'widget-reset-pointing.png', animations: 'disabled' });
    await page.mouse.click(card!.x + 10, card!.y + 10); // on the card itself, not its heading
    await dlg.waitFor();
    expect(await dlg.locator('button.l').getAttribute('aria-pressed')).toBe('true');
    await dlg.locator('button.b').click();
    await dlg.locator('[role=status]').waitFor();
    expect(await dlg.locator('[role=status]').textContent()).toBe('Thank you for your feedback!');
    await until(() => srv.answers.some((a) => a.body.kind === 'feedback' && a.query.get('k') === 'k_fb'));
    const a = srv.answers.find((x) => x.body.kind === 'feedback' && x.query.get('k') === 'k_fb')!;
    expect(a.headers['content-type']).toMatch(/^text\/plain/);
    expect(a.body).toMatchObject({
      v: 1,
      siteKey: 'k_fb',
      id: expect.stringMatching(/^a_[A-Za-z0-9_-]{22}$/),
      kind: 'feedback',
      rating: 4,
      comment: 'The wallet photo is too small',
      language: 'en',
      recorded: true,
      sessionId: expect.stringMatching(/^s_/),
      visitorId: expect.stringMatching(/^v_/),
      pageViewId: expect.stringMatching(/^p_/),
      page: { url: srv.siteOrigin + '/fixtures/feedback/reset.html?k=k_fb', viewport: { w: 1280, h: 800 } },
    });
    expect(a.body.surveyId).toBeUndefined();
    // The selector is the recorder's heatmap anchor: it finds the element that was pointed at.
    expect(await page.evaluate((s) => document.querySelector(s)?.id, a.body.selector)).toBe('target');
    // The recorder runs on this page: the answer belongs to its session and visitor.
    await until(() => srv.batches.some((b) => b.sessionId === a.body.sessionId));
    expect(srv.batches.find((b) => b.sessionId === a.body.sessionId)!.visitorId).toBe(a.body.visitorId);
    // … and to its page view, and the recording marks the moment (sl:answer) for the replay.
    expect(srv.batches.some((b) => b.pageViewId === a.body.pageViewId)).toBe(true);
    await until(() =>
      srv.batches.some((b) => (b as unknown as { events: { type: number; data: { tag?: string; payload?: { id?: string; kind?: string } } }[] }).events.some((e) => e.type === 5 && e.data.tag === 'sl:answer' && e.data.payload?.id === a.body.id && e.data.payload?.kind === 'feedback')),
    );
    // Esc closes a dialog and focus returns to the tab.
    await page.waitForTimeout(4200); // the thanks message closes itself
    await tab.click();
    await dlg.waitFor();
    await page.keyboard.press('Escape');
    await dlg.waitFor({ state: 'detached' });
    expect(await page.evaluate(() => (document.querySelector('[data-sightline]')!.shadowRoot!.activeElement as HTMLElement)?.className)).toBe('tab right');
    await ctx.close();
  });

  it('keeps its look on a dark, right-to-left page with huge type (French, bottom-left, no recording)', async () => {
    const ref = await open('/fixtures/feedback/dark-rtl.html?norec=1');
    const before = await boxes(ref.page);
    await ref.ctx.close();
    const { ctx, page } = await open('/fixtures/feedback/dark-rtl.html?k=k_dark');
    const tab = page.locator('[data-sightline=feedback] >> .tab');
    await tab.waitFor();
    expect(await tab.textContent()).toBe('Avis');
    const t = await tab.evaluate((e) => {
      const r = e.getBoundingClientRect();
      const s = getComputedStyle(e);
      return { left: r.left, bottom: innerHeight - r.bottom, font: s.fontSize, dir: s.direction, transition: s.transitionDuration };
    });
    expect(t).toEqual({ left: 16, bottom: 16, font: '14px', dir: 'ltr', transition: '0s' });
    await page.screenshot({ path: SHOTS + 'widget-dark-rtl-tab.png', animations: 'disabled' });
    await tab.focus();
    await page.keyboard.press('Enter');
    const dlg = page.locator('[data-sightline=feedback] >> [role=dialog]');
    await dlg.waitFor();
    expect(await dlg.locator('h2').textContent()).toBe('Comment évaluez-vous cette page ?');
    expect(await dlg.locator('button.l').count()).toBe(0); // pointing is off for this site
    // Focus is trapped: Tab from the last control comes back to the first.
    for (let i = 0; i < 6; i++) await page.keyboard.press('Tab');
    const inside = await page.evaluate(() => !!document.querySelector('[data-sightline]')!.shadowRoot!.activeElement?.closest('[role=dialog]'));
    expect(inside).toBe(true);
    expect(await boxes(page)).toEqual(before);
    await page.screenshot({ path: SHOTS + 'widget-dark-rtl-open.png', animations: 'disabled' });
    // Not sampled for recording: the answer still goes, with the ids the tracker would use.
    await dlg.locator('[role=radio]').nth(0).click();
    await dlg.locator('button.b').click();
    await until(() => srv.answers.some((a) => a.query.get('k') === 'k_dark'));
    const a = srv.answers.find((x) => x.query.get('k') === 'k_dark')!.body;
    expect(a).toMatchObject({ kind: 'feedback', rating: 1, recorded: false, language: 'fr', sessionId: expect.stringMatching(/^s_/) });
    expect(a.comment).toBeUndefined();
    expect(a.selector).toBeUndefined();
    await ctx.close();
  });

  it('follows single-page-app navigations: shown on targeted routes only', async () => {
    const bundles = () => srv.log.filter((r) => r.path === '/static/feedback.js').length;
    const n = bundles();
    const { ctx, page } = await open('/app/shop?k=k_spa&page=plain');
    await page.waitForTimeout(800);
    const host = () => page.evaluate(() => !!document.querySelector('[data-sightline]')?.shadowRoot?.querySelector('.tab'));
    expect(await host()).toBe(false);
    expect(bundles()).toBe(n); // not loaded until a targeted route
    await page.evaluate(() => history.pushState(null, '', '/app/help/faq?k=k_spa&page=plain'));
    await page.locator('[data-sightline=feedback] >> .tab').waitFor();
    await page.evaluate(() => history.pushState(null, '', '/app/shop'));
    await page.locator('[data-sightline=feedback] >> .tab').waitFor({ state: 'detached' });
    await page.goBack();
    await page.locator('[data-sightline=feedback] >> .tab').waitFor();
    await ctx.close();
  });

  it('waits for consent where the site requires it, and a refusal takes it off the page', async () => {
    const tab = (page: Page) => page.evaluate(() => !!document.querySelector('[data-sightline]')?.shadowRoot?.querySelector('.tab'));
    const n = srv.log.filter((r) => r.path === '/static/feedback.js').length;
    const { ctx, page } = await open('/fixtures/feedback/plain.html?k=k_consent');
    await page.waitForTimeout(1000);
    expect(await tab(page)).toBe(false);
    expect(srv.log.filter((r) => r.path === '/static/feedback.js').length).toBe(n);
    await page.evaluate(() => (window as any).sightline('consent', true));
    await page.locator('[data-sightline=feedback] >> .tab').waitFor();
    await page.evaluate(() => (window as any).sightline('consent', false));
    await page.locator('[data-sightline=feedback] >> .tab').waitFor({ state: 'detached' });
    await ctx.close();

    // Consent queued before the scripts arrive (the snippet's stub): the bundle starts with it.
    const c2 = await browser.newContext();
    const p2 = await c2.newPage();
    await p2.addInitScript(() => {
      (window as any).sightline = function () {
        ((window as any).sightline.q = (window as any).sightline.q || []).push(arguments);
      };
      (window as any).sightline('consent', true);
    });
    await p2.goto(srv.siteOrigin + '/fixtures/feedback/plain.html?k=k_consent&stub=0');
    await p2.locator('[data-sightline=feedback] >> .tab').waitFor();
    await c2.close();
  });

  it('honours prefers-reduced-motion', async () => {
    const anims = async (motion: 'reduce' | 'no-preference') => {
      const { ctx, page } = await open('/fixtures/feedback/plain.html?k=k_fb', { reducedMotion: motion });
      await page.locator('[data-sightline=feedback] >> .tab').click();
      const dlg = page.locator('[data-sightline=feedback] >> [role=dialog]');
      await dlg.waitFor();
      // The animation's name, not getAnimations(): a 0.2 s fade may be over before a loaded machine looks.
      const n = await dlg.evaluate((e) => getComputedStyle(e).animationName);
      await ctx.close();
      return n;
    };
    expect(await anims('no-preference')).toBe('sl-in');
    expect(await anims('reduce')).toBe('none');
  });

  it('works under a strict Content-Security-Policy with the documented lines', async () => {
    const { ctx, page } = await open('/fixtures/feedback/plain.html?k=k_fb&csp=strict&stub=0');
    await page.evaluate(() => {
      (window as any).__csp = [];
      document.addEventListener('securitypolicyviolation', (e) => (window as any).__csp.push(e.violatedDirective + ' ' + e.blockedURI));
    });
    const tab = page.locator('[data-sightline=feedback] >> .tab');
    await tab.waitFor();
    // Styled: the constructed stylesheet applied (no <style> element, no 'unsafe-inline').
    expect(await tab.evaluate((e) => getComputedStyle(e).backgroundColor)).toBe('rgb(217, 72, 15)');
    expect(await page.evaluate(() => document.querySelector('[data-sightline]')!.shadowRoot!.querySelectorAll('style').length)).toBe(0);
    await tab.click();
    const dlg = page.locator('[data-sightline=feedback] >> [role=dialog]');
    await dlg.locator('[role=radio]').nth(4).click();
    await dlg.locator('button.b').click();
    await until(() => srv.answers.some((a) => a.body.page.url.includes('csp=strict')));
    expect(srv.answers.find((a) => a.body.page.url.includes('csp=strict'))!.body.rating).toBe(5);
    expect(await page.evaluate(() => (window as any).__csp)).toEqual([]);
    await page.screenshot({ path: SHOTS + 'widget-strict-csp-thanks.png', animations: 'disabled' });
    await ctx.close();
  });
});

describe('surveys', () => {
  it('shows only where targeted, and is answered by keyboard alone', async () => {
    // Another page of the same site: not targeted, nothing shows and the bundle is not even loaded.
    const n = srv.log.length;
    const other = await open('/fixtures/feedback/plain.html?k=k_survey');
    await other.page.waitForTimeout(1000);
    expect(await other.page.evaluate(() => !!document.querySelector('[data-sightline]'))).toBe(false);
    expect(srv.log.slice(n).map((r) => r.path)).not.toContain('/static/feedback.js');
    await other.ctx.close();

    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await ctx.newPage();
    // The visitor attribute the survey targets arrives through identify, before the script loads.
    await page.addInitScript(() => {
      (window as any).sightline = function () {
        ((window as any).sightline.q = (window as any).sightline.q || []).push(arguments);
      };
      (window as any).sightline('identify', 'user-7', { plan: 'pro' });
    });
    await page.goto(srv.siteOrigin + '/fixtures/feedback/survey.html?k=k_survey&stub=0');
    const dlg = page.locator('[data-sightline=feedback] >> [role=dialog]');
    await dlg.waitFor();
    expect(await dlg.locator('h2').textContent()).toBe('How likely are you to recommend us to a friend?');
    await page.screenshot({ path: SHOTS + 'survey-nps.png', animations: 'disabled' });
    // Keyboard only: End picks 10 in the NPS scale, Enter moves on.
    await page.keyboard.press('End');
    await page.keyboard.press('Enter');
    await dlg.locator('h2', { hasText: 'What did you like most?' }).waitFor();
    // Required: Next without a choice says so.
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    expect(await dlg.locator('[role=alert]').textContent()).toBe('Please answer this question');
    // Focus went back to the choices; arrows move, Space picks.
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Space');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await dlg.locator('h2', { hasText: 'What should we improve?' }).waitFor();
    await page.keyboard.type('Faster checkout');
    await page.screenshot({ path: SHOTS + 'survey-text.png', animations: 'disabled' });
    await page.keyboard.press('Tab');
    await page.keyboard.press('Space');
    await dlg.locator('[role=status]', { hasText: 'Thanks, that helps!' }).waitFor();
    await until(() => srv.answers.some((a) => a.body.kind === 'survey'));
    const a = srv.answers.find((x) => x.body.kind === 'survey')!.body;
    expect(a).toMatchObject({ siteKey: 'k_survey', kind: 'survey', surveyId: SURVEY_ID, language: 'en', recorded: true });
    expect(a.answers).toEqual([
      { q: 1, score: 10 },
      { q: 2, choices: [2] },
      { q: 3, text: 'Faster checkout' },
    ]);
    expect(a.rating).toBeUndefined();
    await until(() => srv.batches.some((b) => b.sessionId === a.sessionId));

    // Once per visitor: a reload of the targeted page shows nothing more.
    await page.reload();
    await page.waitForTimeout(1500);
    expect(await page.evaluate(() => !!document.querySelector('[data-sightline]')?.shadowRoot?.querySelector('[role=dialog]'))).toBe(false);
    await ctx.close();
  });

  it('a detractor skips to the last question; closing early still sends what was answered', async () => {
    const before = srv.answers.length;
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await ctx.newPage();
    await page.addInitScript(() => {
      (window as any).sightline = function () {
        ((window as any).sightline.q = (window as any).sightline.q || []).push(arguments);
      };
    });
    await page.goto(srv.siteOrigin + '/fixtures/feedback/survey.html?k=k_survey&stub=0');
    // No plan attribute yet: not targeted. It arrives after the bundle loaded.
    await page.waitForTimeout(1000);
    expect(await page.evaluate(() => !!document.querySelector('[data-sightline]')?.shadowRoot?.querySelector('[role=dialog]'))).toBe(false);
    await page.evaluate(() => (window as any).sightline('identify', 'user-8', { plan: 'pro' }));
    const dlg = page.locator('[data-sightline=feedback] >> [role=dialog]');
    await dlg.waitFor();
    for (let i = 0; i < 4; i++) await page.keyboard.press('ArrowRight'); // 4
    await page.keyboard.press('Enter');
    await dlg.locator('h2', { hasText: 'What should we improve?' }).waitFor();
    await page.keyboard.press('Escape');
    await dlg.waitFor({ state: 'detached' });
    await until(() => srv.answers.length > before);
    expect(srv.answers[before].body.answers).toEqual([{ q: 1, score: 4 }]);
    await ctx.close();
  });

  it('custom-event and scroll triggers wait for their moment', async () => {
    const shown = (page: Page) => page.evaluate(() => !!document.querySelector('[data-sightline]')?.shadowRoot?.querySelector('[role=dialog]'));
    const a = await open('/fixtures/feedback/survey.html?k=k_triggers');
    await a.page.waitForTimeout(1200);
    expect(await shown(a.page)).toBe(false);
    await a.page.evaluate(() => (window as any).sightline('event', 'browse'));
    await a.page.waitForTimeout(300);
    expect(await shown(a.page)).toBe(false);
    await a.page.evaluate(() => (window as any).sightline('event', 'checkout'));
    await a.page.locator('[data-sightline=feedback] >> [role=dialog]').waitFor();
    await a.ctx.close();

    const b = await open('/fixtures/feedback/survey.html?k=k_triggers');
    await b.page.waitForTimeout(1200);
    await b.page.mouse.move(400, 400);
    await b.page.mouse.wheel(0, 300); // (300 + 800) / ~1900 px: under 80 %
    await b.page.waitForTimeout(400);
    expect(await shown(b.page)).toBe(false);
    await b.page.mouse.wheel(0, 2000);
    await b.page.locator('[data-sightline=feedback] >> [role=dialog]').waitFor();
    await b.ctx.close();
  });

  it('a page with nothing active makes no request for the bundle and adds nothing', async () => {
    const n = srv.log.length;
    const { ctx, page } = await open('/fixtures/feedback/plain.html?k=k_none');
    await page.waitForLoadState('networkidle');
    await page.waitForTimeout(500);
    const paths = srv.log.slice(n).map((r) => r.path);
    expect(paths).toContain('/s/k_none.js');
    expect(paths).not.toContain('/static/feedback.js');
    expect(srv.answers.some((a) => a.query.get('k') === 'k_none')).toBe(false);
    expect(await page.evaluate(() => !!document.querySelector('[data-sightline]'))).toBe(false);
    await ctx.close();
  });
});
