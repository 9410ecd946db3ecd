import { describe, it, expect } from 'vitest';
import { stash, unstash, unstashPageView, STASH_MAX } from '../src/stash';
import { forget } from '../src/session';
import { memStore } from './memstore';

const k = '_sl_k_t_';
const env = (pv: string, seq: number, pad = 0) => JSON.stringify({ pageViewId: pv, seq, pad: 'x'.repeat(pad) });

describe('stash of batches left at page hide', () => {
  it('keeps them in order across pages and hands them over once', () => {
    const st = memStore();
    expect(stash(st, k, [env('p_a', 0), env('p_a', 1)])).toBe(2);
    expect(stash(st, k, [env('p_b', 2)])).toBe(1); // another tab appends
    expect(unstash(st, k).map((b) => JSON.parse(b).seq)).toEqual([0, 1, 2]);
    expect(unstash(st, k)).toEqual([]);
  });

  it('is bounded, oldest first', () => {
    const st = memStore();
    const big = Math.floor(STASH_MAX / 3);
    expect(stash(st, k, [env('p_a', 0, big), env('p_a', 1, big), env('p_a', 2, big), env('p_a', 3, big)])).toBe(2);
    expect(unstash(st, k).map((b) => JSON.parse(b).seq)).toEqual([0, 1]);
  });

  it('withdraws the batches of a page view that lived on, keeps the others', () => {
    const st = memStore();
    stash(st, k, [env('p_other', 5), env('p_me', 6), env('p_me', 7)]);
    unstashPageView(st, k, 'p_me');
    expect(unstash(st, k).map((b) => JSON.parse(b).seq)).toEqual([5]);
  });

  it('survives corrupt storage and is forgotten with everything else', () => {
    const st = memStore();
    st.set(k + 'u', '{"not":"an array"}');
    expect(unstash(st, k)).toEqual([]);
    stash(st, k, [env('p_a', 0)]);
    forget(st, k);
    expect(st.get(k + 'u')).toBeNull();
  });
});
