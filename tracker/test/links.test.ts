import { describe, it, expect } from 'vitest';
import { keepStylesheetURLs } from '../src/links';

// A stylesheet link as rrweb serialises it with inlineStylesheet: rel and href gone, text kept.
const inlined = (id: number) => ({ type: 2, id, tagName: 'link', attributes: { _cssText: 'a{color:red}' }, childNodes: [] });

describe('keepStylesheetURLs', () => {
  const live: Record<number, unknown> = {
    5: { href: 'https://shop.example/css/site.css', rel: 'stylesheet' },
    7: { href: 'https://shop.example/late.css', rel: 'stylesheet' },
    9: { href: 'data:text/css,a{}', rel: 'stylesheet' },
  };
  const getNode = (id: number) => live[id] ?? null;

  it('puts rel and the absolute href back on full-snapshot links, at any depth', () => {
    const ev = {
      type: 2,
      data: { node: { type: 0, id: 1, childNodes: [{ type: 2, id: 2, tagName: 'head', attributes: {}, childNodes: [inlined(5)] }] } },
    };
    keepStylesheetURLs(ev, getNode);
    const link = (ev.data.node.childNodes[0].childNodes[0] as { attributes: Record<string, unknown> }).attributes;
    expect(link).toEqual({ _cssText: 'a{color:red}', rel: 'stylesheet', href: 'https://shop.example/css/site.css' });
  });

  it('does the same for links a mutation adds', () => {
    const ev = { type: 3, data: { source: 0, adds: [{ parentId: 2, node: inlined(7) }], removes: [], texts: [], attributes: [] } };
    keepStylesheetURLs(ev, getNode);
    expect(ev.data.adds[0].node.attributes).toMatchObject({ href: 'https://shop.example/late.css', rel: 'stylesheet' });
  });

  it('leaves links it cannot or need not fix', () => {
    const kept = { type: 2, id: 5, tagName: 'link', attributes: { rel: 'stylesheet', href: 'https://cdn.example/x.css' }, childNodes: [] };
    const gone = inlined(404); // no live node any more
    const data = inlined(9); // not http(s)
    const ev = { type: 2, data: { node: { type: 0, id: 1, childNodes: [kept, gone, data] } } };
    keepStylesheetURLs(ev, getNode);
    expect(kept.attributes).toEqual({ rel: 'stylesheet', href: 'https://cdn.example/x.css' });
    expect(gone.attributes).toEqual({ _cssText: 'a{color:red}' });
    expect(data.attributes).toEqual({ _cssText: 'a{color:red}' });
  });

  it('survives hostile shapes and deep documents', () => {
    let deep: Record<string, unknown> = inlined(5);
    for (let i = 0; i < 5000; i++) deep = { type: 2, id: 100 + i, tagName: 'div', attributes: {}, childNodes: [deep] };
    expect(() => keepStylesheetURLs({ type: 2, data: { node: deep } }, getNode)).not.toThrow();
    expect(() => keepStylesheetURLs({ type: 3, data: { source: 0, adds: 'x' } }, getNode)).not.toThrow();
    expect(() => keepStylesheetURLs({ type: 3, data: { source: 0, adds: [null, { node: 3 }] } }, getNode)).not.toThrow();
    expect(() => keepStylesheetURLs({ type: 2 }, getNode)).not.toThrow();
  });
});
