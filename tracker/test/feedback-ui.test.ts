// @vitest-environment happy-dom
import { describe, it, expect, vi, afterEach } from 'vitest';
import { mountWidget, mountSurvey } from '../src/feedback/ui';

// The dashboard's live preview: the real widget and survey rendered into a host element, with no
// network call and nothing left behind on destroy.
const fetchSpy = vi.fn();
afterEach(() => {
  document.body.innerHTML = '';
  fetchSpy.mockClear();
});

describe('preview', () => {
  it('mountWidget renders the configured widget and reports the submission, without the network', () => {
    globalThis.fetch = fetchSpy as never;
    const host = document.createElement('div');
    document.body.append(host);
    const got: unknown[] = [];
    const m = mountWidget(host, { position: 'bottom-left', color: '#112233', language: 'de', texts: { tab: 'Ihre Meinung', title: '', prompt: '', thanks: 'Merci' }, element: true, pages: [] }, { preview: true, open: true, onSubmit: (a, l) => got.push([a, l]) });
    const r = host.shadowRoot!;
    expect(r.querySelector('.pv')).not.toBeNull();
    expect(r.querySelector('.tab')!.textContent).toBe('Ihre Meinung');
    const dlg = r.querySelector('[role=dialog]')!;
    expect(dlg.querySelector('h2')!.textContent).toBe('Wie bewerten Sie diese Seite?');
    // The dashboard's form keeps the focus: the preview neither takes it nor traps Tab.
    expect(r.activeElement).toBeNull();
    const tabKey = new KeyboardEvent('keydown', { key: 'Tab', shiftKey: true, bubbles: true, cancelable: true });
    dlg.dispatchEvent(tabKey);
    expect(tabKey.defaultPrevented).toBe(false);
    expect(dlg.querySelectorAll('[role=radio]').length).toBe(5);
    (dlg.querySelector('button.l') as HTMLButtonElement).click(); // pointing is off in preview
    expect(r.querySelector('.o')).toBeNull();
    (dlg.querySelectorAll('[role=radio]')[1] as HTMLButtonElement).click();
    (dlg.querySelector('textarea') as HTMLTextAreaElement).value = '  zu langsam ';
    (dlg.querySelector('button.b') as HTMLButtonElement).click();
    expect(got).toEqual([[{ kind: 'feedback', rating: 2, comment: 'zu langsam', selector: undefined }, 'de']]);
    expect(r.querySelector('[role=status]')!.textContent).toBe('Merci');
    expect(fetchSpy).not.toHaveBeenCalled();
    m.destroy();
    expect(r.querySelector('.r')).toBeNull();
  });

  it('the send button asks for a rating or a comment first', () => {
    const host = document.createElement('div');
    document.body.append(host);
    const got: unknown[] = [];
    mountWidget(host, null, { preview: true, open: true, onSubmit: (a) => got.push(a) });
    const r = host.shadowRoot!;
    (r.querySelector('button.b') as HTMLButtonElement).click();
    expect(got).toEqual([]);
    expect(r.querySelector('[role=alert]')!.textContent).toBe('Please answer this question');
  });

  it('mountSurvey walks the questions with their skip rules', () => {
    const host = document.createElement('div');
    document.body.append(host);
    const got: unknown[] = [];
    mountSurvey(
      host,
      {
        id: '42',
        language: 'en',
        questions: [
          { id: 1, type: 'rating5', text: 'Rate us', required: true, skip: [{ choices: [], min: 1, max: 2, to: 3 }] },
          { id: 2, type: 'multiple', text: 'Which?', choices: [{ id: 1, label: 'A' }, { id: 2, label: 'B' }] },
          { id: 3, type: 'short', text: 'Why?' },
        ],
      },
      { preview: true, onSubmit: (a) => got.push(a) },
    );
    const r = host.shadowRoot!;
    const h2 = () => r.querySelector('h2')!.textContent;
    expect(h2()).toBe('Rate us');
    (r.querySelector('button.b') as HTMLButtonElement).click(); // required
    expect(r.querySelector('[role=alert]')!.textContent).toBe('Please answer this question');
    (r.querySelectorAll('[role=radio]')[1] as HTMLButtonElement).click(); // 2 → skip to question 3
    (r.querySelector('button.b') as HTMLButtonElement).click();
    expect(h2()).toBe('Why?');
    const input = r.querySelector('input') as HTMLInputElement;
    expect(input.maxLength).toBe(200);
    input.value = 'slow';
    input.dispatchEvent(new Event('input'));
    (r.querySelector('button.b') as HTMLButtonElement).click();
    expect(got).toEqual([{ kind: 'survey', surveyId: '42', answers: [{ q: 1, score: 2 }, { q: 3, text: 'slow' }] }]);
    expect(r.querySelector('[role=status]')!.textContent).toBe('Thank you!');
  });

  it('an invalid survey renders nothing', () => {
    const host = document.createElement('div');
    mountSurvey(host, { id: 'x' }).destroy();
    expect(host.shadowRoot).toBeNull();
  });
});
