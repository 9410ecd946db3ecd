import type { Config } from './config';

// Masking and blocking, mapped onto rrweb's record options:
//   - every input value is masked (maskAllInputs); a field is recorded in clear only when the page
//     author (data-sl-unmask) or the site (unmaskSelectors) opted it in, and never when it is
//     sensitive (passwords, card data, one-time codes) whatever the opt-in says;
//   - text is recorded in clear unless the site turns on maskAllText or the element is inside
//     data-sl-mask / maskSelectors; an unmask nearer to the text than the mask opts it back in;
//   - data-sl-block / blockSelectors (and rrweb's rr-block class) replace the element with an
//     empty placeholder of the same size: its content never leaves the page.
export const SENSITIVE =
  'input[type=password],[data-rr-is-password],[autocomplete^=cc-],[autocomplete=current-password],' +
  '[autocomplete=new-password],[autocomplete=one-time-code]';
const SENSITIVE_NAME = /pass|card|cc-?(num|csc|cvc|exp)|cvv|cvc|iban|ssn|secret|token|otp|pin$/i;

export interface MaskOptions {
  blockSelector: string;
  maskTextSelector: string;
  maskAllInputs: true;
  maskInputFn: (text: string, el: HTMLElement) => string;
  maskTextFn: (text: string, el: HTMLElement | null) => string;
}

// valid drops selectors the browser cannot parse: one bad site setting must not disable masking
// (an invalid selector would make every closest() call throw).
function join(sels: string[], isValid: (s: string) => boolean): string {
  return sels.filter(isValid).join(',');
}

export function selectorValid(s: string): boolean {
  try {
    document.createDocumentFragment().querySelector(s);
    return true;
  } catch {
    return false;
  }
}

export function stars(text: string): string {
  return text.replace(/\S/g, '*');
}

function closest(el: Element, sel: string): Element | null {
  if (!sel) return null;
  try {
    return el.closest(sel);
  } catch {
    return null;
  }
}

export function sensitive(el: Element): boolean {
  try {
    if (el.matches(SENSITIVE)) return true;
  } catch {
    return true;
  }
  const n = (el.getAttribute('name') || '') + ' ' + (el.getAttribute('id') || '');
  return SENSITIVE_NAME.test(n.trim());
}

// optedIn: an unmask match wins over a mask match only when it is strictly nearer to el.
function optedIn(el: Element, unmask: string, mask: string): boolean {
  const u = closest(el, unmask);
  if (!u) return false;
  const m = closest(el, mask);
  return !m || (m !== u && m.contains(u));
}

export function maskingOptions(c: Config, isValid: (s: string) => boolean = selectorValid): MaskOptions {
  const block = join(['[data-sl-block]'].concat(c.blockSelectors), isValid);
  const mask = join(['[data-sl-mask]'].concat(c.maskSelectors), isValid);
  const unmask = join(['[data-sl-unmask]'].concat(c.unmaskSelectors), isValid);
  return {
    blockSelector: block,
    // '*' makes rrweb hand every text node to maskTextFn, which keeps opted-in text.
    maskTextSelector: c.maskAllText ? '*' : mask,
    maskAllInputs: true,
    // Input values become one '*' per character (word boundaries hidden too), as rrweb's default.
    maskInputFn: (text, el) => (el && !sensitive(el) && optedIn(el, unmask, mask) ? text : '*'.repeat(text.length)),
    maskTextFn: (text, el) => (el && optedIn(el, unmask, mask) ? text : stars(text)),
  };
}
