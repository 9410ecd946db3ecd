// The feedback widget and the survey card, rendered inside a shadow root on a host element. This
// module has no side effects and makes no network call: the feedback bundle (main.ts) mounts it on
// the page and sends what it submits; the dashboard imports it to show a live preview of the real
// thing (opts.preview: positioned inside the host instead of the viewport, no element picking).
import type { FeedbackSettings, SurveySettings, SurveyQuestion } from '../config';
import { feedbackSettings, surveySettings } from './settings';
import { language, texts, type Texts } from './i18n';
import { next, answered, type QAnswer } from './logic';
import { adopt, ink } from './style';
import { pick } from './pick';
import { MAX_TEXT, type FeedbackAnswer, type SurveyAnswer } from './send';

export type { FeedbackSettings, SurveySettings };

export interface WidgetOptions {
  preview?: boolean;
  open?: boolean; // start with the dialog open (preview)
  languages?: readonly string[]; // the visitor's preferences (navigator.languages)
  onSubmit?: (a: FeedbackAnswer, language: string) => void;
}

export interface SurveyOptions {
  preview?: boolean;
  languages?: readonly string[];
  color?: string;
  focus?: boolean; // take focus when shown (the bundle does when nothing else has it)
  onSubmit?: (a: SurveyAnswer, language: string) => void; // once, at the end or on close with answers
  onClose?: () => void;
}

export interface Mounted {
  destroy(): void;
}

const SHORT = 200;
const SVG = 'http://www.w3.org/2000/svg';

type Kids = (Node | string | null | false)[];
function el<K extends keyof HTMLElementTagNameMap>(d: Document, tag: K, attrs: Record<string, string> = {}, kids: Kids = []): HTMLElementTagNameMap[K] {
  const e = d.createElement(tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  for (const c of kids) if (c) e.append(c);
  return e;
}

// root returns the host's shadow root (made once) with the stylesheet and a fresh container.
function root(host: HTMLElement, color: string, preview: boolean): HTMLElement {
  const r = host.shadowRoot || host.attachShadow({ mode: 'open' });
  adopt(r);
  const c = el(host.ownerDocument, 'div', { class: 'r' + (preview ? ' pv' : '') });
  c.style.setProperty('--c', color);
  c.style.setProperty('--f', ink(color));
  r.append(c);
  return c;
}

let seq = 0;
const uid = (p: string) => 'sl-' + p + ++seq;

// face draws one of the five faces (0 worst … 4 best): eyes and a mouth curved by the rating.
function face(d: Document, i: number): SVGElement {
  const s = d.createElementNS(SVG, 'svg');
  s.setAttribute('viewBox', '0 0 24 24');
  s.setAttribute('aria-hidden', 'true');
  const c = (i - 2) * 2.2;
  for (const [tag, a] of [
    ['circle', { cx: '12', cy: '12', r: '10.5', fill: 'none', stroke: 'currentColor', 'stroke-width': '1.5' }],
    ['circle', { cx: '8.5', cy: '9.5', r: '1.3', fill: 'currentColor' }],
    ['circle', { cx: '15.5', cy: '9.5', r: '1.3', fill: 'currentColor' }],
    ['path', { d: `M7.5 ${15.5 - c / 2}Q12 ${15.5 + c} 16.5 ${15.5 - c / 2}`, fill: 'none', stroke: 'currentColor', 'stroke-width': '1.6', 'stroke-linecap': 'round' }],
  ] as [string, Record<string, string>][]) {
    const e = d.createElementNS(SVG, tag);
    for (const k in a) e.setAttribute(k, a[k]);
    s.append(e);
  }
  return s;
}

// radios is an ARIA radiogroup of buttons: one tab stop, arrow keys (and Home/End) move and select,
// Space/Enter select. onPick gets the index.
function radios(d: Document, label: string, items: { label: string; content?: Node }[], cls: string, onPick: (i: number) => void, selected = -1): HTMLElement {
  const g = el(d, 'div', { role: 'radiogroup', 'aria-label': label, class: 'g ' + cls });
  const bs = items.map((it, i) => {
    const b = el(d, 'button', { type: 'button', role: 'radio', 'aria-checked': 'false', 'aria-label': it.label, tabindex: '-1' }, [it.content || it.label]);
    b.addEventListener('click', () => set(i));
    return b;
  });
  const set = (i: number, focus = false) => {
    bs.forEach((b, j) => {
      b.setAttribute('aria-checked', String(i === j));
      b.tabIndex = i === j ? 0 : -1;
    });
    if (focus) bs[i].focus();
    onPick(i);
  };
  if (selected >= 0) set(selected);
  else bs[0].tabIndex = 0;
  g.addEventListener('keydown', (e) => {
    const i = bs.indexOf(e.target as HTMLButtonElement);
    if (i < 0) return;
    const n = bs.length;
    const to = { ArrowRight: i + 1, ArrowDown: i + 1, ArrowLeft: i - 1, ArrowUp: i - 1, Home: 0, End: n - 1 }[e.key];
    if (to === undefined) return;
    e.preventDefault();
    set((to + n) % n, true);
  });
  g.append(...bs);
  return g;
}

const FOCUSABLE = 'button:not([disabled]):not([tabindex="-1"]),textarea,input,[tabindex="0"]';

// trap keeps Tab inside a modal dialog and closes it on Esc.
function trap(dlg: HTMLElement, close: () => void, modal: boolean): void {
  dlg.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      close();
      return;
    }
    if (e.key !== 'Tab' || !modal) return;
    const f = [...dlg.querySelectorAll<HTMLElement>(FOCUSABLE)].filter((x) => !x.closest('[hidden]'));
    if (!f.length) return;
    const active = (dlg.getRootNode() as ShadowRoot).activeElement;
    const i = f.indexOf(active as HTMLElement);
    if (e.shiftKey && i <= 0) (e.preventDefault(), f[f.length - 1].focus());
    else if (!e.shiftKey && i === f.length - 1) (e.preventDefault(), f[0].focus());
  });
}

function header(d: Document, title: string, t: Texts, close: () => void): [HTMLElement, string] {
  const id = uid('t');
  const x = el(d, 'button', { type: 'button', class: 'x', 'aria-label': t.close }, ['×']);
  x.addEventListener('click', close);
  return [el(d, 'div', { class: 'h' }, [el(d, 'h2', { id }, [title]), x]), id];
}

// mountWidget renders the feedback tab and its dialog on host.
export function mountWidget(host: HTMLElement, settings: FeedbackSettings | unknown, opts: WidgetOptions = {}): Mounted & { open(): void; close(): void } {
  const fb = feedbackSettings(settings) || (feedbackSettings({}) as FeedbackSettings);
  const d = host.ownerDocument;
  const lang = language(fb.language, opts.languages || []);
  const t = texts(lang, fb.texts);
  const c = root(host, fb.color, !!opts.preview);
  const tab = el(d, 'button', { type: 'button', class: 'tab ' + fb.position, 'aria-haspopup': 'dialog', 'aria-expanded': 'false' }, [t.tab]);
  let dlg: HTMLElement | null = null;
  let back: HTMLElement | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopPick: (() => void) | null = null;

  const close = () => {
    clearTimeout(timer);
    if (stopPick) stopPick();
    if (!dlg) return;
    dlg.remove();
    dlg = null;
    tab.hidden = false;
    tab.setAttribute('aria-expanded', 'false');
    (back && back.isConnected ? back : tab).focus();
  };

  const open = () => {
    if (dlg) return;
    const active = (host.shadowRoot && host.shadowRoot.activeElement) || d.activeElement;
    back = active instanceof HTMLElement && active !== d.body ? active : tab;
    let rating = 0;
    let selector = '';
    const [head, titleId] = header(d, t.title, t, close);
    const faces = radios(
      d,
      t.title,
      t.faces.map((label, i) => ({ label, content: face(d, i) })),
      'faces',
      (i) => (rating = i + 1),
    );
    const cid = uid('c');
    const comment = el(d, 'textarea', { id: cid, maxlength: String(MAX_TEXT) });
    const err = el(d, 'div', { class: 'err', role: 'alert' });
    const send = el(d, 'button', { type: 'button', class: 'b' }, [t.send]);
    let point: HTMLButtonElement | null = null;
    if (fb.element) {
      point = el(d, 'button', { type: 'button', class: 'l', 'aria-pressed': 'false' }, [t.point]);
      const p = point;
      p.addEventListener('click', () => {
        if (opts.preview || !dlg) return;
        const box = dlg;
        box.hidden = true;
        stopPick = pick(d, host, c, t.pickHint, (e) => {
          stopPick = null;
          box.hidden = false;
          if (e) {
            selector = e;
            p.textContent = '✓ ' + t.picked;
            p.setAttribute('aria-pressed', 'true');
          }
          p.focus();
        });
      });
    }
    const body = el(d, 'div', {}, [faces, el(d, 'label', { for: cid }, [t.prompt]), comment, err, el(d, 'div', { class: 'f' }, [point || el(d, 'span'), send])]);
    dlg = el(d, 'div', { role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': titleId, class: 'd ' + fb.position }, [head, body]);
    send.addEventListener('click', () => {
      const text = comment.value.trim();
      if (!rating && !text) {
        err.textContent = t.required;
        (faces.querySelector('[tabindex="0"]') as HTMLElement).focus();
        return;
      }
      if (opts.onSubmit) opts.onSubmit({ kind: 'feedback', rating: rating || undefined, comment: text || undefined, selector: selector || undefined }, lang);
      const thanks = el(d, 'p', { class: 't', role: 'status', tabindex: '-1' }, [t.thanks]);
      body.replaceWith(thanks);
      thanks.focus();
      if (!opts.preview) timer = setTimeout(close, 4000);
    });
    // A preview (the dashboard's) neither takes the focus nor keeps Tab in: the form beside it has it.
    trap(dlg, close, !opts.preview);
    tab.hidden = !opts.preview; // the preview shows on which edge the tab sits, too
    tab.setAttribute('aria-expanded', 'true');
    c.append(dlg);
    if (!opts.preview) (faces.querySelector('[tabindex="0"]') as HTMLElement).focus();
  };

  tab.addEventListener('click', open);
  c.append(tab);
  if (opts.open) open();
  return {
    open,
    close,
    destroy() {
      clearTimeout(timer);
      if (stopPick) stopPick();
      c.remove();
    },
  };
}

// control renders one question's input and reports its answer through set (null: none yet).
function control(d: Document, q: SurveyQuestion, t: Texts, labelId: string, set: (a: QAnswer | null) => void): HTMLElement {
  const wrap = el(d, 'div');
  const scale = (from: number, to: number) => {
    const items = [];
    for (let i = from; i <= to; i++) items.push({ label: String(i) });
    const g = radios(d, q.text, items, 'n', (i) => set({ q: q.id, score: from + i }));
    g.removeAttribute('aria-label');
    g.setAttribute('aria-labelledby', labelId);
    wrap.append(g);
    const low = q.low || (q.type === 'nps' ? t.low : '');
    const high = q.high || (q.type === 'nps' ? t.high : '');
    if (low || high) wrap.append(el(d, 'div', { class: 'ends', 'aria-hidden': 'true' }, [el(d, 'span', {}, [low]), el(d, 'span', {}, [high])]));
  };
  switch (q.type) {
    case 'rating5':
      scale(1, 5);
      break;
    case 'rating10':
      scale(1, 10);
      break;
    case 'nps':
      scale(0, 10);
      break;
    case 'single': {
      const g = radios(d, q.text, q.choices.map((c) => ({ label: c.label })), 'ch', (i) => set({ q: q.id, choices: [q.choices[i].id] }));
      g.removeAttribute('aria-label');
      g.setAttribute('aria-labelledby', labelId);
      wrap.append(g);
      break;
    }
    case 'multiple': {
      const boxes = q.choices.map((c) => {
        const b = el(d, 'input', { type: 'checkbox', value: String(c.id) });
        b.addEventListener('change', () => {
          const ids = q.choices.filter((_, i) => boxes[i].checked).map((x) => x.id);
          set(ids.length ? { q: q.id, choices: ids } : null);
        });
        wrap.append(el(d, 'label', { class: 'c' }, [b, c.label]));
        return b;
      });
      wrap.setAttribute('role', 'group');
      wrap.setAttribute('aria-labelledby', labelId);
      break;
    }
    default: {
      const long = q.type === 'long';
      const f = long ? el(d, 'textarea', { maxlength: String(MAX_TEXT) }) : el(d, 'input', { type: 'text', maxlength: String(SHORT) });
      f.setAttribute('aria-labelledby', labelId);
      f.addEventListener('input', () => set(f.value.trim() ? { q: q.id, text: f.value.slice(0, long ? MAX_TEXT : SHORT) } : null));
      wrap.append(f);
    }
  }
  return wrap;
}

// mountSurvey renders a survey card, one question at a time with its skip rules, on host.
export function mountSurvey(host: HTMLElement, survey: SurveySettings | unknown, opts: SurveyOptions = {}): Mounted {
  const s = surveySettings(survey);
  const d = host.ownerDocument;
  if (!s) return { destroy() {} };
  const lang = language(s.language, opts.languages || []);
  const t = texts(lang);
  const c = root(host, /^#[0-9a-fA-F]{6}$/.test(opts.color || '') ? opts.color! : '#3b5bdb', !!opts.preview);
  const answers: QAnswer[] = [];
  let sent = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const submit = () => {
    if (sent || !answers.length) return;
    sent = true;
    if (opts.onSubmit) opts.onSubmit({ kind: 'survey', surveyId: s.id, answers: answers.slice() }, lang);
  };
  const close = () => {
    clearTimeout(timer);
    submit(); // what was answered before closing still counts
    dlg.remove();
    if (opts.onClose) opts.onClose();
  };
  const [head, titleId] = header(d, '', t, close);
  const h2 = head.querySelector('h2')!;
  const body = el(d, 'div');
  const dlg = el(d, 'div', { role: 'dialog', 'aria-modal': 'false', 'aria-labelledby': titleId, class: 'd s', tabindex: '-1' }, [head, body]);
  trap(dlg, close, false);

  const show = (i: number) => {
    if (i < 0) {
      submit();
      const p = el(d, 'p', { class: 't', role: 'status', tabindex: '-1' }, [s.thanks || t.done]);
      h2.textContent = '';
      body.replaceChildren(p);
      p.focus();
      if (!opts.preview) timer = setTimeout(close, 4000);
      return;
    }
    const q = s.questions[i];
    let a: QAnswer | null = null;
    h2.textContent = q.text;
    const err = el(d, 'div', { class: 'err', role: 'alert' });
    const last = next(s.questions, i, null) < 0 && !q.skip.length;
    const b = el(d, 'button', { type: 'button', class: 'b' }, [last ? t.send : t.next]);
    const ctl = control(d, q, t, titleId, (x) => {
      a = x;
      err.textContent = '';
    });
    const go = () => {
      if (q.required && !answered(a)) {
        err.textContent = t.required;
        const f = ctl.querySelector<HTMLElement>('[tabindex="0"],input,textarea');
        if (f) f.focus();
        return;
      }
      if (answered(a)) answers.push(a!);
      show(next(s.questions, i, answered(a) ? a : null));
    };
    b.addEventListener('click', go);
    // Enter in a radio group or a short text field moves on, as a form's submit would.
    ctl.addEventListener('keydown', (e) => {
      const tg = e.target as HTMLElement;
      if (e.key === 'Enter' && (tg.getAttribute('role') === 'radio' || tg.localName === 'input') && (tg as HTMLInputElement).type !== 'checkbox') {
        e.preventDefault();
        if (tg.getAttribute('role') === 'radio') tg.click();
        go();
      }
    });
    body.replaceChildren(ctl, err, el(d, 'div', { class: 'f' }, [el(d, 'span'), b]));
    const f = ctl.querySelector<HTMLElement>('[tabindex="0"],input,textarea');
    if (f && (opts.focus || i > 0)) f.focus();
  };
  c.append(dlg);
  show(0);
  return {
    destroy() {
      clearTimeout(timer);
      c.remove();
    },
  };
}
