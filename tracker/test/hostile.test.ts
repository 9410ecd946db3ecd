// @vitest-environment happy-dom
import { describe, it, expect } from 'vitest';
import { identifyPayload, eventPayload, MAX_ATTRS, MAX_KEY, MAX_VALUE } from '../src/api';
import { normalizeConfig } from '../src/config';
import { maskingOptions } from '../src/masking';

// Whatever a page or a misconfigured site hands the tracker: nothing throws, limits hold, and
// privacy settings never come out weaker than the default.
let seed = 0x2545f491;
const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
const pick = <T,>(xs: T[]) => xs[Math.floor(rnd() * xs.length)];

function value(depth = 0): unknown {
  switch (Math.floor(rnd() * 11)) {
    case 0: return undefined;
    case 1: return null;
    case 2: return rnd() < 0.5;
    case 3: return pick([0, -1, 1e308, NaN, Infinity, -Infinity, 2 ** 53 + 1, rnd() * 1e6]);
    case 4: return 'x'.repeat(Math.floor(rnd() * 1200));
    case 5: return pick(['', '__proto__', 'constructor', '\u0000', '\ud800', '</script>', '"}]', 'ok']);
    case 6: return depth > 3 ? 1 : Array.from({ length: Math.floor(rnd() * 5) }, () => value(depth + 1));
    case 7: {
      if (depth > 3) return {};
      const o: Record<string, unknown> = {};
      const n = Math.floor(rnd() * (depth === 0 ? 120 : 4));
      for (let i = 0; i < n; i++) o[pick(['k', 'a'.repeat(80), '', 'p']) + i] = value(depth + 1);
      return o;
    }
    case 8: return () => 1;
    case 9: return Symbol('s');
    default: return Object.create(null);
  }
}

describe('hostile inputs', () => {
  it('identify and event never throw and always respect the limits', () => {
    for (let i = 0; i < 3000; i++) {
      const a = value();
      const b = value();
      const id = identifyPayload(a, b);
      if (id) {
        expect(typeof id.userId).toBe('string');
        const keys = Object.keys(id.attributes);
        expect(keys.length).toBeLessThanOrEqual(MAX_ATTRS);
        for (const k of keys) {
          expect(k.length).toBeLessThanOrEqual(MAX_KEY);
          expect(typeof id.attributes[k]).toBe('string');
          expect(id.attributes[k].length).toBeLessThanOrEqual(MAX_VALUE);
        }
      }
      const ev = eventPayload(a, b);
      if (ev) {
        const keys = Object.keys(ev.properties);
        expect(keys.length).toBeLessThanOrEqual(MAX_ATTRS);
        for (const k of keys) {
          const v = ev.properties[k];
          expect(['string', 'number', 'boolean']).toContain(typeof v);
          if (typeof v === 'number') expect(Number.isFinite(v)).toBe(true);
          if (typeof v === 'string') expect(v.length).toBeLessThanOrEqual(MAX_VALUE);
        }
        expect(() => JSON.stringify(ev)).not.toThrow();
      }
    }
  });

  it('site settings never weaken privacy and never make masking throw', () => {
    document.body.innerHTML = '<form><input id="i" type="password"><input id="t"></form><p id="p">text</p>';
    const pw = document.getElementById('i')!;
    const t = document.getElementById('t')!;
    for (let i = 0; i < 2000; i++) {
      const raw: Record<string, unknown> = { siteKey: 'k_x', endpoint: 'https://i/b' };
      for (const f of ['sampleRate', 'recording', 'respectDnt', 'requireConsent', 'maskAllText', 'maskSelectors', 'blockSelectors', 'unmaskSelectors', 'flags']) {
        if (rnd() < 0.7) raw[f] = rnd() < 0.3 ? [pick(['*', 'input', '[[', ':has(', '#t', 'p', '', '\u0000'])] : value();
      }
      if (rnd() < 0.3) raw.recordCanvas = rnd() < 0.5 ? true : value();
      const c = normalizeConfig(raw)!;
      expect(c.sampleRate >= 0 && c.sampleRate <= 1).toBe(true);
      expect(c.recordCanvas).toBe(raw.recordCanvas === true); // canvas pixels only when the site opted in
      expect(typeof c.respectDnt).toBe('boolean');
      if (raw.respectDnt !== false) expect(c.respectDnt).toBe(true);
      const m = maskingOptions(c);
      expect(m.maskAllInputs).toBe(true);
      expect(m.maskInputFn('secret', pw)).toBe('******'); // a password never unmasks
      expect(() => m.maskInputFn('v', t)).not.toThrow();
      expect(() => m.maskTextFn('v', document.getElementById('p'))).not.toThrow();
    }
  });
});
