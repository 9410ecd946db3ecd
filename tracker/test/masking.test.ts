// @vitest-environment happy-dom
import { describe, it, expect } from 'vitest';
import { maskingOptions, sensitive } from '../src/masking';
import { normalizeConfig, type Config } from '../src/config';

const cfg = (over: Partial<Config> = {}): Config => ({ ...normalizeConfig({ siteKey: 'k_t', endpoint: 'https://i/b' })!, ...over });

function dom(html: string): (sel: string) => HTMLElement {
  document.body.innerHTML = html;
  return (sel) => document.querySelector(sel) as HTMLElement;
}

describe('masking configuration', () => {
  it('masks every input by default and blocks data-sl-block', () => {
    const m = maskingOptions(cfg());
    expect(m.maskAllInputs).toBe(true);
    expect(m.blockSelector).toBe('[data-sl-block]');
    expect(m.maskTextSelector).toBe('[data-sl-mask]');
    const $ = dom('<input id="q" name="q"><textarea id="t"></textarea>');
    expect(m.maskInputFn('hello world', $('#q'))).toBe('***********');
    expect(m.maskInputFn('x', $('#t'))).toBe('*');
  });

  it('records a field in clear only when opted in', () => {
    const m = maskingOptions(cfg({ unmaskSelectors: ['.search'] }));
    const $ = dom(`
      <form data-sl-unmask><input id="a"><input id="pw" type="password"><input id="cc" autocomplete="cc-number">
        <input id="cvv" name="card_cvv"><div data-sl-mask><input id="inner"></div></form>
      <input id="s" class="search"><input id="plain">
      <div data-sl-mask><p data-sl-unmask><input id="nearer"></p></div>`);
    expect(m.maskInputFn('shown', $('#a'))).toBe('shown');
    expect(m.maskInputFn('shown', $('#s'))).toBe('shown');
    expect(m.maskInputFn('secret', $('#plain'))).toBe('******');
    // Sensitive fields stay masked whatever the opt-in says.
    expect(m.maskInputFn('hunter2', $('#pw'))).toBe('*******');
    expect(m.maskInputFn('4111 1111', $('#cc'))).toBe('*********');
    expect(m.maskInputFn('123', $('#cvv'))).toBe('***');
    // The nearer of mask and unmask decides.
    expect(m.maskInputFn('x', $('#inner'))).toBe('*');
    expect(m.maskInputFn('x', $('#nearer'))).toBe('x');
  });

  it('treats a password field shown as text as a password', () => {
    const $ = dom('<input id="p" type="text" data-rr-is-password>');
    expect(sensitive($('#p'))).toBe(true);
  });

  it('masks text by selector or everywhere, keeping opted-in text', () => {
    const m = maskingOptions(cfg({ maskSelectors: ['.pii'] }));
    expect(m.maskTextSelector).toBe('[data-sl-mask],.pii');
    const all = maskingOptions(cfg({ maskAllText: true }));
    expect(all.maskTextSelector).toBe('*');
    const $ = dom('<p id="a">Jane Doe</p><p id="b" data-sl-unmask>Pricing</p><div data-sl-mask><span id="c">x y</span></div>');
    expect(all.maskTextFn('Jane Doe', $('#a'))).toBe('**** ***');
    expect(all.maskTextFn('Pricing', $('#b'))).toBe('Pricing');
    expect(all.maskTextFn('x y', $('#c'))).toBe('* *');
    expect(all.maskTextFn('x y', null)).toBe('* *');
  });

  it('adds site block selectors and drops ones the browser cannot parse', () => {
    const m = maskingOptions(cfg({ blockSelectors: ['#ads', '[[bad', '.chat'], unmaskSelectors: ['::nope('] }));
    expect(m.blockSelector).toBe('[data-sl-block],#ads,.chat');
    const $ = dom('<input id="i">');
    expect(m.maskInputFn('x', $('#i'))).toBe('*');
  });

  it('defaults privacy settings to private when the config is incomplete', () => {
    const c = normalizeConfig({ siteKey: 'k', endpoint: 'e', maskAllText: 'yes', respectDnt: 0, sampleRate: 7 })!;
    expect(c.maskAllText).toBe(false);
    expect(c.respectDnt).toBe(true);
    expect(c.sampleRate).toBe(1);
    expect(normalizeConfig('__SIGHTLINE_CONFIG__')).toBeNull();
  });
});
