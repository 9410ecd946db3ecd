import { describe, it, expect } from 'vitest';
import { identifyPayload, eventPayload, MAX_ATTRS, MAX_KEY, MAX_VALUE } from '../src/api';

describe('identify', () => {
  it('keeps at most 50 attributes, drops long keys, cuts long values', () => {
    const attrs: Record<string, unknown> = {};
    for (let i = 0; i < 80; i++) attrs['a' + i] = 'v' + i;
    attrs['k'.repeat(MAX_KEY + 1)] = 'x';
    const p = identifyPayload('u-1', { long: 'x'.repeat(2000), n: 3, b: true, o: { nested: 1 }, ...attrs })!;
    expect(Object.keys(p.attributes).length).toBe(MAX_ATTRS);
    expect(p.attributes.long.length).toBe(MAX_VALUE);
    expect(p.attributes.n).toBe('3');
    expect(p.attributes.b).toBe('true');
    expect(p.attributes.o).toBeUndefined();
    expect(Object.keys(p.attributes).every((k) => k.length <= MAX_KEY)).toBe(true);
  });

  it('rejects missing or oversized user ids', () => {
    expect(identifyPayload('', {})).toBeNull();
    expect(identifyPayload(undefined, {})).toBeNull();
    expect(identifyPayload('x'.repeat(257), {})).toBeNull();
    expect(identifyPayload(12345678901, null)).toEqual({ userId: '12345678901', attributes: {} });
  });
});

describe('event', () => {
  it('keeps typed properties', () => {
    const p = eventPayload('checkout', { total: 12.5, ok: true, sku: 'A1', bad: NaN, arr: [1] })!;
    expect(p).toEqual({ name: 'checkout', properties: { total: 12.5, ok: true, sku: 'A1' } });
    expect(eventPayload('', {})).toBeNull();
    expect(eventPayload('x'.repeat(129), {})).toBeNull();
  });
});
