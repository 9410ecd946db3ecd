// Replay fidelity: real-world pages (Start Bootstrap templates from npm, CDN
// resources served locally on their own origin) are recorded in Chromium
// through the real binary, then replayed in the dashboard's own Replay page;
// at each of ≥ 4 instants the live screenshot and the replay's (1:1, the
// replay iframe only) must have SSIM ≥ 0.98. The replay reaches each instant
// by forward seeks on the timeline, and the last one again by a far seek from
// the start (?t=).
//
//   SIGHTLINE_BIN=/path/to/sightline node --test e2e/fidelity.e2e.test.mjs
//
// Both browsers run with --hide-scrollbars (the replay iframe and the live
// page would draw theirs differently) and a fixed 1280×800 viewport;
// screenshots of failing instants go to web/test-results/fidelity/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { DESKTOP_UA, leave, startSightline, signUp, startedOnceMore, waitFor } from "./harness.mjs";
import { startCdn, startSite } from "./fidelity/servers.mjs";
import { TEMPLATES, FALLBACK_IMAGE } from "./fidelity/pages.mjs";
import { compare } from "./fidelity/ssim.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const results = path.resolve(here, "../test-results/fidelity");
const bin = process.env.SIGHTLINE_BIN;
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const MIN_SSIM = 0.98;
const VIEWPORT = { width: 1280, height: 800 };
// After each live screenshot nothing happens for this long, so a replay
// seek landing a little after the instant shows the same state.
const QUIET_MS = 1500;
// A screenshot shows the page a moment after it was asked for (a playing video moves on).
const SEEK_SLACK_MS = 150;
const CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--hide-scrollbars", "--font-render-hinting=none",
  "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--force-color-profile=srgb"];

let sl, cdn, site, browser, dash, account, siteId, siteKey;

before(async () => {
  assert.ok(bin, "set SIGHTLINE_BIN to the sightline binary (make build) to run the fidelity test");
  mkdirSync(results, { recursive: true });
  // The asset fetcher refuses loopback targets unless the operator allows them; the pages here are on 127.0.0.1.
  sl = await startSightline(bin, ["-recordings.assets.allow-targets", "127.0.0.0/8", ...(process.env.FIDELITY_DEBUG ? ["-log.level", "debug"] : [])]);
  cdn = await startCdn(FALLBACK_IMAGE);
  site = await startSite(TEMPLATES, cdn.origin, () => `<script async src="${sl.base}/s/${encodeURIComponent(siteKey)}.js"></script>`);
  browser = await startedOnceMore(() => chromium.launch({ executablePath: chromiumPath, args: CHROMIUM_ARGS }));
  dash = await browser.newContext({ viewport: { width: 1900, height: 1500 }, deviceScaleFactor: 1 });
  account = await signUp(dash, sl.base, `fidelity-${Date.now()}@example.com`);
  const made = await account.call("POST", `/api/v1/organizations/${account.orgId}/sites`, { name: "Fidelity", domains: ["127.0.0.1"] });
  assert.equal(made.status, 200, made.text);
  ({ id: siteId, siteKey } = made.json().site);
  // Charts are canvases: record them (opt-in per site).
  const set = await account.call("PATCH", `/api/v1/sites/${siteId}/settings`, { settings: { recordCanvas: true }, updateMask: "recordCanvas" });
  assert.equal(set.status, 200, set.text);
});

after(async () => {
  await browser?.close();
  await site?.close();
  await cdn?.close();
  await sl?.stop();
});

// settle waits until the page stops scrolling and its fonts and images are in.
async function settle(frame) {
  let last = -1;
  let same = 0;
  for (let i = 0; i < 60 && same < 3; i++) {
    const y = await frame.evaluate(() => window.scrollY);
    same = y === last ? same + 1 : 0;
    last = y;
    await new Promise((r) => setTimeout(r, 100));
  }
  await frame.evaluate(async () => {
    await document.fonts.ready;
    await Promise.all([...document.images].filter((i) => !i.complete).map((i) => new Promise((r) => ((i.onload = r), (i.onerror = r), setTimeout(r, 3000)))));
  });
}

// record visits one template as a visitor and answers the live screenshots with their times.
async function record(t) {
  const ctx = await browser.newContext({ viewport: VIEWPORT, deviceScaleFactor: 1, userAgent: DESKTOP_UA });
  const page = await ctx.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  // Every request to ingest (fetches and beacons) and how it ended, for a recording found short.
  const sends = [];
  const began = Date.now();
  const sent = (r, how) => {
    if (r.url().startsWith(sl.base) && r.method() === "POST") sends.push(`${Date.now() - began} ms ${r.resourceType()} ${r.postDataBuffer()?.length ?? 0} B: ${how}`);
  };
  ctx.on("requestfinished", (r) => r.response().then((x) => sent(r, `${x?.status() ?? "no response"}`), (err) => sent(r, `no response (${err.message})`)));
  ctx.on("requestfailed", (r) => sent(r, `failed (${r.failure()?.errorText})`));
  const shots = [];
  // Playing videos are paused for each live screenshot and resumed after it, as a visitor
  // might: the pause is recorded like any media event, so the replay must show that exact
  // frame, where a playing video would move on between the instant and the screenshot.
  const pauseVideos = () =>
    page.evaluate(() => {
      const playing = [...document.querySelectorAll("video")].filter((v) => !v.paused);
      window.__slPlaying = [...(window.__slPlaying ?? []), ...playing];
      for (const v of playing) v.pause();
    });
  const shoot = async (label) => {
    await page.evaluate(() => (window.__slPlaying = []));
    await pauseVideos();
    await settle(page);
    await pauseVideos(); // one the settling scroll brought into view (and the browser resumed)
    await page.waitForTimeout(300);
    const at = Date.now();
    const video = await page.evaluate(() => [...document.querySelectorAll("video")].map((v) => v.currentTime));
    shots.push({ label, at, scrollY: await page.evaluate(() => window.scrollY), video, png: await page.screenshot() });
    // Resumed well after the instant, so the replay's seek slack never reaches the resume.
    await page.waitForTimeout(SEEK_SLACK_MS + 250);
    await page.evaluate(() => {
      for (const v of window.__slPlaying ?? []) v.play().catch(() => {});
    });
    await page.waitForTimeout(QUIET_MS);
  };
  try {
    const url = `${site.origin}/${t.name}/`;
    await page.goto(url, { waitUntil: "load" });
    await waitFor(() => page.evaluate(() => typeof window.sightline === "function"), `the tracker on ${t.name}`, 15_000);
    await page.waitForTimeout(1500); // first full snapshot, charts' entry animation
    await shoot("top");
    await page.mouse.move(640, 400);
    await page.mouse.wheel(0, 1400);
    await shoot("scrolled");
    await page.click(t.focus);
    await page.hover(t.hover);
    await shoot("focus+hover");
    await page.mouse.move(640, 780);
    await page.evaluate(() => window.scrollTo(0, 0));
    await shoot("back to top");
    const stylesheets = await page.evaluate(() => [...document.querySelectorAll("link[rel=stylesheet]")].map((l) => l.href));
    // The context stays open until the caller has found the whole recording: closing it at
    // once can cancel the pagehide beacon in flight (seen in CI: a recording a second short).
    await leave(page);
    return { url, shots, errors, stylesheets, sends, stashed: () => stashed(ctx), done: () => ctx.close() };
  } catch (e) {
    await ctx.close();
    throw e;
  }
}

async function findSession(url, lastAt, { sends, stashed }) {
  let seen = "no session yet";
  let sessionId;
  const debugEvents = [];
  return waitFor(async () => {
    const r = await account.call("POST", `/api/v1/sites/${siteId}/sessions:search`, { pageSize: 50 });
    if (r.status !== 200) return undefined;
    const s = (r.json().sessions ?? []).find((x) => x.entryUrl === url);
    if (!s) return undefined;
    // The recording must reach past the last instant.
    // and hold every batch up to it: a session's seqs are allocated one by one from 0, and a batch
    // sent by fetch can reach ingest after the page-hide batch sent by sendBeacon, so the last
    // instant's events being stored says nothing of an earlier batch's.
    let first = Infinity, last = -Infinity;
    const chunks = await recording(s.sessionId);
    if (!chunks.length) return undefined;
    const seqs = new Set(chunks.map((c) => c.seq));
    const missing = [...Array(Math.max(...seqs) + 1).keys()].filter((q) => !seqs.has(q));
    for (const c of chunks) {
      for (const e of c.events) {
        if (process.env.FIDELITY_DEBUG) debugEvents.push(e);
        first = Math.min(first, e.timestamp);
        last = Math.max(last, e.timestamp);
      }
    }
    if (process.env.FIDELITY_DEBUG && last >= lastAt) {
      debugEvents.sort((a, b) => a.timestamp - b.timestamp);
      const t0 = debugEvents[0].timestamp;
      console.log(debugEvents.map((e) => `${e.timestamp - t0} ${e.type}${e.type === 3 ? `/${e.data.source}` : ""} ${e.type === 3 && e.data.source === 3 ? JSON.stringify(e.data) : e.type === 5 || (e.type === 3 && (e.data.source === 9 || e.data.source === 7)) ? JSON.stringify(e.data).slice(0, 600) : e.type === 3 && e.data.source === 0 ? `adds ${e.data.adds.length} attrs ${e.data.attributes.length} texts ${e.data.texts.length}` : ""}`).join("\n"));
    }
    debugEvents.length = 0;
    seen = `session ${s.sessionId}: events up to ${last - lastAt} ms from the last instant's end${missing.length ? `, seqs ${missing.join(", ")} not stored yet` : ""}`;
    sessionId = s.sessionId;
    return last >= lastAt && !missing.length ? { id: s.sessionId, first } : undefined;
  }, `the recording of ${url}`, 90_000).catch(async (e) => {
    // What was stored (times from the last instant's end) and what the server warned of, so a
    // batch missing in CI tells a batch never sent from one accepted and not stored.
    const stored = sessionId ? await chunkReport(sessionId, lastAt).catch((err) => `(no recording: ${err.message})`) : "no session";
    const metrics = await fetch(`${sl.admin}/metrics`).then((r) => r.text()).catch((err) => `(no metrics: ${err.message})`);
    const ingest = metrics.split("\n").filter((l) => /^ingest_(batches|limit_hits|forwarder|spool_bytes)/.test(l));
    const kept = await stashed().catch((err) => `(not read: ${err.message})`);
    console.log(`fidelity: the stored chunks of ${url}:\n${stored}\nthe page's requests to sightline:\n${sends.join("\n")}\nbatches the tracker kept for a next page (sendBeacon refused them at page hide): ${kept}\ningest's counters:\n${ingest.join("\n")}\nsightline's last warnings and errors:\n${warnings().slice(-30).join("\n")}`);
    throw new Error(`${e.message} (${seen})`);
  });
}

// stashed answers the batches the tracker kept in the site's localStorage for a next page (the
// stash: sendBeacon refused them at page hide), read from a blank page of the site's origin
// (answered by the test, without the tracker, which would send them).
async function stashed(ctx) {
  const page = await ctx.newPage();
  try {
    const blank = `${site.origin}/stash-reader/`;
    await page.route(blank, (r) => r.fulfill({ status: 200, contentType: "text/html", body: "<!doctype html><title>stash</title>" }));
    await page.goto(blank);
    const kept = await page.evaluate(() =>
      Object.keys(localStorage)
        .filter((k) => k.startsWith("_sl_") && k.endsWith("_u"))
        .flatMap((k) => JSON.parse(localStorage.getItem(k) || "[]"))
        .map((b) => `seq ${/"seq":(\d+)/.exec(b)?.[1]} (${b.length} B)`),
    );
    return kept.length ? kept.join(", ") : "none";
  } finally {
    await page.close();
  }
}

// warnings answers sightline's log lines at WARN and ERROR.
function warnings() {
  return sl.log().split("\n").filter((l) => /"level":"(WARN|ERROR)"|level=(WARN|ERROR)/.test(l));
}

// recording answers the stored chunks of a session, in the order the API streams them.
async function recording(sessionId) {
  const rec = await account.call("GET", `/api/v1/sites/${siteId}/sessions/${sessionId}/recording`);
  const chunks = [];
  for (const line of rec.text.split("\n")) {
    if (!line.trim()) continue;
    const r = JSON.parse(line).result;
    if (r?.events) chunks.push({ seq: Number(r.seq ?? 0), events: JSON.parse(Buffer.from(r.events, "base64").toString("utf8")) });
  }
  return chunks;
}

// chunkReport describes a stored recording for an instant the replay got wrong, or one found
// short: each chunk's events (ms from first) and the document's recorded scroll positions, so a
// failure tells a recording that lacks the instant's events from a replay that did not apply them.
async function chunkReport(sessionId, first) {
  const lines = [];
  for (const c of await recording(sessionId)) {
    const ts = c.events.map((e) => e.timestamp - first);
    const scrolls = c.events.filter((e) => e.type === 3 && e.data.source === 3 && e.data.id === 1).map((e) => `${e.timestamp - first}:${e.data.y}`);
    lines.push(`seq ${c.seq}: ${c.events.length} events ${Math.min(...ts)}..${Math.max(...ts)} ms${scrolls.length ? `, document scrolls ${scrolls.join(" ")}` : ""}`);
  }
  return lines.join("\n");
}

// waitForAssets waits (bounded) until recordings holds its copy of the page's stylesheets.
async function waitForAssets(hrefs) {
  const end = Date.now() + 20_000;
  let got = [];
  while (Date.now() < end) {
    const r = await account.call("POST", `/api/v1/sites/${siteId}/assets:lookup`, { urls: hrefs });
    if (r.status === 404 || r.status === 501) return "no asset capture";
    got = r.status === 200 ? (r.json().assets ?? []).map((a) => a.url) : [];
    if (got.length >= hrefs.length) return `${hrefs.length} stylesheets captured`;
    await new Promise((res) => setTimeout(res, 500));
  }
  if (process.env.FIDELITY_DEBUG) console.log(sl.log().split("\n").filter((l) => /assets:/.test(l)).slice(-40).join("\n"));
  return `${got.length}/${hrefs.length} stylesheets captured, not: ${hrefs.filter((h) => !got.includes(h)).join(" ")}`;
}

async function replayShot(page) {
  const frameEl = page.locator("[data-testid=replay-frame] iframe");
  const iframe = await frameEl.elementHandle();
  const frame = await iframe.contentFrame();
  await settle(frame);
  await page.waitForTimeout(500);
  // A video the replay just put at its recorded time paints that frame once its seek is done.
  await frame
    .waitForFunction(() => [...document.querySelectorAll("video")].every((v) => !v.seeking && (v.readyState >= 2 || v.networkState === 3)), null, { timeout: 5000 })
    .catch(() => {});
  await page.waitForTimeout(100);
  const scrollY = await frame.evaluate(() => window.scrollY);
  const video = await frame.evaluate(() => [...document.querySelectorAll("video")].map((v) => v.currentTime));
  const box = await frameEl.boundingBox();
  assert.ok(box.width >= VIEWPORT.width && box.height >= VIEWPORT.height, `the replay iframe is ${box.width}×${box.height}`);
  const shoot = () =>
    page.screenshot({
      clip: { x: box.x, y: box.y, width: VIEWPORT.width, height: VIEWPORT.height },
      // The replay's mouse cursor and its trail are drawn over the page, not in it.
      style: ".replayer-mouse, .replayer-mouse-tail { display: none !important; }",
    });
  // The paused replay is scored once its paint is still: two shots 150 ms
  // apart must agree (3 s at most). A video frame that stays wrong is the
  // replay's fault, not the shot's (media.ts seeks a paused video again until
  // it presents its time's frame).
  let png = await shoot();
  for (let i = 0; i < 20; i++) {
    await page.waitForTimeout(150);
    const next = await shoot();
    if (next.equals(png)) break;
    png = next;
  }
  return { png, scrollY, video };
}

async function openReplay(sessionId, atMs) {
  const page = await dash.newPage();
  if (process.env.FIDELITY_DEBUG) page.on("console", (m) => console.log(`dashboard console: ${m.text()}`));
  await page.goto(`${sl.base}/o/${account.orgId}/sites/${siteId}/recordings/${encodeURIComponent(sessionId)}?t=${(atMs / 1000).toFixed(3)}`);
  await page.locator("[data-testid=replay-player][data-ready='1']").waitFor({ timeout: 30_000 });
  await waitFor(async () => Number(await page.getByTestId("timeline").getAttribute("aria-valuenow")) >= atMs - 50, "the replay to reach the start time", 30_000);
  await page.getByTestId("play-pause").click();
  await page.getByTestId("actual-size").click();
  // It played on a little before the pause: back to the instant (a seek that rebuilds from the full snapshot).
  await seekTo(page, atMs);
  return page;
}

async function seekTo(page, atMs) {
  const tl = page.getByTestId("timeline");
  const total = Number(await tl.getAttribute("aria-valuemax"));
  const box = await tl.boundingBox();
  await page.mouse.click(box.x + (atMs / total) * box.width, box.y + box.height / 2);
  const now = Number(await tl.getAttribute("aria-valuenow"));
  assert.ok(Math.abs(now - atMs) < 300, `seek landed at ${now}, wanted ${atMs}`);
}

const rows = [];

test("replays look like the live pages", { timeout: 600_000 }, async (t) => {
  // FIDELITY_PAGES=agency,resume runs some of the pages (while working on one).
  const only = (process.env.FIDELITY_PAGES ?? "").split(",").filter(Boolean);
  for (const tpl of TEMPLATES.filter((x) => !only.length || only.includes(x.name))) {
    const live = await record(tpl);
    const last = live.shots.at(-1);
    const session = await findSession(live.url, last.at + QUIET_MS - 200, live).finally(live.done);
    const assets = await waitForAssets(live.stylesheets);
    const rel = (s) => s.at - session.first + SEEK_SLACK_MS;

    const score = async (page, shot, how) => {
      const { png, scrollY, video } = await replayShot(page);
      const v = compare(shot.png, png);
      const row = { page: tpl.name, instant: shot.label, how, atMs: Math.round(rel(shot)), ssim: v };
      rows.push(row);
      console.log(`fidelity ${tpl.name.padEnd(11)} ${shot.label.padEnd(12)} ${how.padEnd(8)} t=${(row.atMs / 1000).toFixed(2)}s scrollY live ${shot.scrollY} replay ${scrollY}${!video.length ? "" : `, videos at ${shot.video.map((t) => t.toFixed(2)).join("/")} s live, ${video.map((t) => t.toFixed(2)).join("/")} s replay`} SSIM ${v.toFixed(4)} (${assets})`);
      if (v < MIN_SSIM) {
        const base = path.join(results, `${tpl.name}-${shot.label.replace(/\W+/g, "_")}-${how}`);
        writeFileSync(`${base}-live.png`, shot.png);
        writeFileSync(`${base}-replay.png`, png);
        // What the replay's videos said of themselves, for a frame that differs.
        const frame = await page.locator("[data-testid=replay-frame] iframe").elementHandle().then((h) => h.contentFrame());
        const videos = await frame.evaluate(() => [...document.querySelectorAll("video")].map((v) => ({ t: v.currentTime, paused: v.paused, readyState: v.readyState, seeking: v.seeking, frames: v.getVideoPlaybackQuality?.().totalVideoFrames, top: Math.round(v.getBoundingClientRect().top) })));
        if (videos.length) console.log(`fidelity ${tpl.name} ${shot.label} ${how}: replay videos ${JSON.stringify(videos)}`);
        const tl = page.getByTestId("timeline");
        console.log(`fidelity ${tpl.name} ${shot.label} ${how}: timeline at ${await tl.getAttribute("aria-valuenow")} of ${await tl.getAttribute("aria-valuemax")} ms; the stored recording:\n${await chunkReport(session.id, session.first)}`);
        const warned = warnings();
        if (warned.length) console.log(`fidelity: sightline's last warnings and errors:\n${warned.slice(-20).join("\n")}`);
      }
    };

    // Forward seeks: open at the first instant, then the timeline to each next one.
    const page = await openReplay(session.id, rel(live.shots[0]));
    assert.equal(await page.locator("[data-testid=replay-frame] iframe").getAttribute("sandbox").then((s) => (s ?? "").split(/\s+/).includes("allow-scripts")), false, "the replay iframe must not allow scripts");
    await score(page, live.shots[0], "open");
    for (const shot of live.shots.slice(1)) {
      await seekTo(page, rel(shot));
      await score(page, shot, "seek");
    }
    await page.close();
    // A far seek from the start straight to the last instant.
    const far = await openReplay(session.id, rel(last));
    await score(far, last, "far");
    await far.close();
  }
  console.log("\nfidelity: page        instant      how      SSIM");
  for (const r of rows) console.log(`fidelity: ${r.page.padEnd(11)} ${r.instant.padEnd(12)} ${r.how.padEnd(8)} ${r.ssim.toFixed(4)}${r.ssim < MIN_SSIM ? "  < " + MIN_SSIM : ""}`);
  const mean = rows.reduce((a, r) => a + r.ssim, 0) / rows.length;
  const worst = rows.reduce((a, r) => (r.ssim < a.ssim ? r : a));
  console.log(`fidelity: mean ${mean.toFixed(4)}, worst ${worst.ssim.toFixed(4)} (${worst.page} ${worst.instant} ${worst.how}); CDN misses: ${cdn.misses.join(", ") || "none"}`);
  const failing = rows.filter((r) => r.ssim < MIN_SSIM).map((r) => `${r.page}/${r.instant}/${r.how} ${r.ssim.toFixed(4)}`);
  assert.deepEqual(failing, [], `instants under SSIM ${MIN_SSIM}`);
});
