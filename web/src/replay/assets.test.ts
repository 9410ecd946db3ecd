import { describe, expect, it } from "vitest";
import type { RrwebEvent } from "../lib/ndjson";
import { AssetRewriter, MAX_LOOKUP_URLS } from "./assets";

const H = "a".repeat(64);
const snapshot = (): RrwebEvent => ({
  type: 2,
  timestamp: 1,
  data: {
    node: {
      type: 0,
      childNodes: [
        {
          type: 2,
          tagName: "html",
          childNodes: [
            { type: 2, tagName: "head", childNodes: [
              { type: 2, tagName: "link", attributes: { rel: "stylesheet", href: "https://site.test/a.css", _cssText: "body{}" }, childNodes: [] },
              { type: 2, tagName: "link", attributes: { rel: "stylesheet", href: "https://cdn.test/b.css" }, childNodes: [] },
              { type: 2, tagName: "link", attributes: { rel: "icon", href: "https://site.test/favicon.ico" }, childNodes: [] },
            ] },
            { type: 2, tagName: "body", childNodes: [{ type: 2, tagName: "img", attributes: { src: "https://site.test/p.png", srcset: "x 2x" }, childNodes: [] }] },
          ],
        },
      ],
    },
  },
});
const head = (e: RrwebEvent) => e.data.node.childNodes[0].childNodes[0].childNodes;
const img = (e: RrwebEvent) => e.data.node.childNodes[0].childNodes[1].childNodes[0];

describe("AssetRewriter", () => {
  it("points captured stylesheets and images at our copies, drops _cssText, keeps the rest", async () => {
    const asked: string[][] = [];
    const r = new AssetRewriter(
      async (urls) => {
        asked.push(urls);
        return [
          { url: "https://site.test/a.css", hash: H },
          { url: "https://site.test/p.png", hash: "b".repeat(64) },
        ];
      },
      (h) => `/assets/${h}`,
    );
    const e = snapshot();
    await r.prepare([e]);
    // Stylesheets and images, not the icon.
    expect(asked.map((a) => [...a].sort())).toEqual([["https://cdn.test/b.css", "https://site.test/a.css", "https://site.test/p.png"]]);
    expect(head(e)[0].attributes).toEqual({ rel: "stylesheet", href: `/assets/${H}` });
    expect(head(e)[1].attributes).toEqual({ rel: "stylesheet", href: "https://cdn.test/b.css" });
    expect(img(e).attributes).toEqual({ src: `/assets/${"b".repeat(64)}` });

    // Cached: the same URLs in a later mutation are not looked up again.
    const add: RrwebEvent = { type: 3, timestamp: 2, data: { source: 0, adds: [{ node: { type: 2, tagName: "link", attributes: { rel: "stylesheet", href: "https://site.test/a.css", _cssText: "x" } } }] } };
    await r.prepare([add]);
    expect(asked).toHaveLength(1);
    expect(add.data.adds[0].node.attributes).toEqual({ rel: "stylesheet", href: `/assets/${H}` });
  });

  it("keeps rrweb's copies when the lookup fails, and stops asking", async () => {
    let calls = 0;
    const r = new AssetRewriter(async () => {
      calls++;
      throw new Error("503");
    }, (h) => h);
    const e = snapshot();
    await r.prepare([e]);
    await r.prepare([snapshot()]);
    expect(calls).toBe(1);
    expect(head(e)[0].attributes._cssText).toBe("body{}");
  });

  it("ignores answers with malformed hashes and non-http URLs", async () => {
    const asked: string[] = [];
    const r = new AssetRewriter(async (urls) => {
      asked.push(...urls);
      return urls.map((url) => ({ url, hash: "../../etc/passwd" }));
    }, (h) => `/assets/${h}`);
    const e: RrwebEvent = { type: 3, timestamp: 1, data: { source: 0, adds: [
      { node: { type: 2, tagName: "link", attributes: { rel: "stylesheet", href: "javascript:alert(1)" } } },
      { node: { type: 2, tagName: "link", attributes: { rel: "stylesheet", href: "https://x.test/a.css", _cssText: "a{}" } } },
    ] } };
    await r.prepare([e]);
    expect(asked).toEqual(["https://x.test/a.css"]);
    expect(e.data.adds[1].node.attributes._cssText).toBe("a{}");
  });

  it("looks up in batches the API accepts", async () => {
    const sizes: number[] = [];
    const r = new AssetRewriter(async (urls) => {
      sizes.push(urls.length);
      return [];
    }, (h) => h);
    const adds = Array.from({ length: MAX_LOOKUP_URLS + 5 }, (_, i) => ({ node: { type: 2, tagName: "img", attributes: { src: `https://x.test/${i}.png` } } }));
    await r.prepare([{ type: 3, timestamp: 1, data: { source: 0, adds } }]);
    expect(sizes).toEqual([MAX_LOOKUP_URLS, 5]);
  });
});
