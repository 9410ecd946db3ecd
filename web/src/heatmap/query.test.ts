import { describe, expect, it } from "vitest";
import { fromSearchParams, toFilter } from "../lib/filters";
import { clickLinkText, defaultQuery, deviceSessions, frustrationText, fromParams, pageSessions, recordingsSearch, snapshotRequest, toParams, toRequest, type HeatmapQuery } from "./query";

const now = new Date("2026-11-23T12:00:00Z");

describe("heatmap URL state", () => {
  it("round-trips every field", () => {
    const q: HeatmapQuery = { page: { op: "pattern", value: "https://shop.example/product/*" }, device: "mobile", map: "scroll", range: "custom", from: "2026-11-01", to: "2026-11-07", snap: "s_chosen-recording_01" };
    expect(fromParams(new URLSearchParams(toParams(q).toString()))).toEqual(q);
  });

  it("leaves defaults out and reads an empty URL as the defaults", () => {
    expect(toParams(defaultQuery()).toString()).toBe("");
    expect(toParams({ ...defaultQuery(), page: { op: "equals", value: "https://a.example/" } }).toString()).toBe("page=https%3A%2F%2Fa.example%2F");
    expect(fromParams(new URLSearchParams())).toEqual(defaultQuery());
  });

  it("ignores junk", () => {
    const q = fromParams(new URLSearchParams(`page=${"x".repeat(5000)}&rule=regex&device=fridge&map=smell&range=all&from=yesterday&snap=../../x`));
    expect(q).toEqual(defaultQuery());
    expect(fromParams(new URLSearchParams("page=https://a.example/&rule=regex")).page).toBeUndefined();
  });
});

describe("the recording a map is drawn over", () => {
  it("asks for the chosen session's snapshot of the rule's pages", () => {
    const q: HeatmapQuery = { ...defaultQuery(), page: { op: "pattern", value: "/product/*" }, snap: "s_0123456789" };
    expect(snapshotRequest(q)).toEqual({ sessionId: "s_0123456789", "page.operator": "OPERATOR_PATTERN", "page.value": "/product/*" });
    expect(snapshotRequest({ ...q, snap: undefined })).toBeUndefined();
    expect(snapshotRequest({ ...q, page: undefined })).toBeUndefined();
  });

  it("takes only what can be a session id from the URL", () => {
    for (const bad of ["short", "x".repeat(65), "s_has space", "s_üñíçødé01"]) expect(fromParams(new URLSearchParams({ snap: bad })).snap).toBeUndefined();
    expect(fromParams(new URLSearchParams({ snap: "s_ok-id_0001" })).snap).toBe("s_ok-id_0001");
  });

  it("lists the recordings of the map's pages, device and dates, whatever was clicked", () => {
    const q: HeatmapQuery = { page: { op: "equals", value: "https://a.example/café" }, device: "tablet", map: "dead", range: "7d" };
    const f = toFilter(pageSessions(q), now);
    expect(f.visitedPage).toEqual({ operator: "OPERATOR_EQUALS", value: "https://a.example/caf%C3%A9" });
    expect(f.deviceTypes).toEqual(["DEVICE_TYPE_TABLET"]);
    expect(f.deadClickedElement ?? f.clickedElement ?? f.rageClickedElement).toBeUndefined();
    expect(toFilter(pageSessions({ ...q, device: "all" }), now).deviceTypes).toBeUndefined();
  });
});

describe("GetHeatmap request", () => {
  it("needs a page", () => {
    expect(toRequest(defaultQuery(), now)).toBeUndefined();
  });

  it("maps rule, kind, device and range", () => {
    const r = toRequest({ page: { op: "prefix", value: "https://a.example/blog" }, device: "tablet", map: "rage", range: "7d" }, now, 500);
    expect(r).toEqual({
      "page.operator": "OPERATOR_PREFIX",
      "page.value": "https://a.example/blog",
      kind: "HEATMAP_KIND_RAGE",
      deviceType: "DEVICE_TYPE_TABLET",
      startTime: "2026-11-16T12:00:00.000Z",
      maxCells: 500,
    });
    const all = toRequest({ page: { op: "equals", value: "https://a.example/" }, device: "all", map: "move", range: "custom", from: "2026-11-01", to: "2026-11-01" }, now)!;
    expect(all.deviceType).toBeUndefined();
    expect(all.kind).toBe("HEATMAP_KIND_MOVE");
    expect(all.startTime).toBe(new Date(2026, 10, 1).toISOString());
    expect(all.endTime).toBe(new Date(2026, 10, 2).toISOString());
  });
});

describe("recordings behind a spot", () => {
  it("filters the list by the same rule, device, dates and the clicked element", () => {
    const q: HeatmapQuery = { page: { op: "pattern", value: "https://shop.example/product/*" }, device: "desktop", map: "click", range: "7d" };
    const sel = "html>body>main>button#buy";
    const list = fromSearchParams(new URLSearchParams(recordingsSearch(q, sel)));
    expect(toFilter(list, now)).toEqual({
      startTime: { start: "2026-11-16T12:00:00.000Z" },
      visitedPage: { operator: "OPERATOR_PATTERN", value: "https://shop.example/product/*" },
      clickedElement: sel,
      deviceTypes: ["DEVICE_TYPE_DESKTOP"],
    });
  });

  it("on the rage and dead maps, keeps to sessions that rage- or dead-clicked the element, and spells a readable rule as recorded URLs are", () => {
    const q: HeatmapQuery = { page: { op: "contains", value: "/café" }, device: "all", map: "rage", range: "30d" };
    const f = toFilter(fromSearchParams(new URLSearchParams(recordingsSearch(q, "a#x"))), now);
    expect(f).toEqual({ startTime: { start: "2026-10-24T12:00:00.000Z" }, visitedPage: { operator: "OPERATOR_CONTAINS", value: "/caf%C3%A9" }, rageClickedElement: "a#x" });
    const dead = toFilter(fromSearchParams(new URLSearchParams(recordingsSearch({ ...q, map: "dead" }, "a#x"))), now);
    expect(dead.deadClickedElement).toBe("a#x");
    expect(dead.rageClickedElement).toBeUndefined();
    expect(dead.clickedElement).toBeUndefined();
    expect(clickLinkText("rage")).toBe("the recordings that rage-clicked it");
    expect(clickLinkText("dead")).toBe("the recordings that dead-clicked it");
  });
});

describe("date ranges", () => {
  const page = { op: "equals" as const, value: "https://a.example/" };
  it("ignores dates that do not exist, and a custom range of only such dates", () => {
    for (const bad of ["2026-02-31", "9999-99-99", "0001-01-01", "1969-12-31"]) {
      expect(fromParams(new URLSearchParams(`range=custom&from=${bad}&to=${bad}`))).toEqual(defaultQuery());
    }
    expect(fromParams(new URLSearchParams("range=custom&from=2026-02-31&to=2026-03-01"))).toEqual({ ...defaultQuery(), range: "custom", to: "2026-03-01" });
  });

  it("reads From after To the other way round, and asks nothing for more than 400 days", () => {
    const r = toRequest({ ...defaultQuery(), page, range: "custom", from: "2026-11-07", to: "2026-11-01" }, now)!;
    expect(r.startTime).toBe(new Date(2026, 10, 1).toISOString());
    expect(r.endTime).toBe(new Date(2026, 10, 8).toISOString());
    expect(toRequest({ ...defaultQuery(), page, range: "custom", from: "2019-01-01" }, now)).toBeUndefined();
    expect(toRequest({ ...defaultQuery(), page, range: "custom", from: "2025-10-20", to: "2026-11-23" }, now)).toBeDefined();
    expect(toRequest({ ...defaultQuery(), page, range: "custom", from: "2025-10-19", to: "2026-11-23" }, now)).toBeUndefined();
  });
});

describe("frustrationText", () => {
  it("says an element's rage and dead clicks, nothing without them", () => {
    expect(frustrationText(0, 0)).toBe("");
    expect(frustrationText(1, 0)).toBe("1 rage click");
    expect(frustrationText(0, 3)).toBe("3 dead clicks");
    expect(frustrationText(2, 1)).toBe("2 rage · 1 dead clicks");
    expect(frustrationText(1200, 0)).toBe(`${(1200).toLocaleString()} rage clicks`);
  });
});

describe("sessions on the device switch", () => {
  it("reads each class from the answer, whichever was asked, and sums them for every device", () => {
    const answer = {
      sessions: "2",
      deviceSessions: [
        { deviceType: "DEVICE_TYPE_DESKTOP" as const, sessions: "812" },
        { deviceType: "DEVICE_TYPE_TABLET" as const, sessions: "0" },
        { deviceType: "DEVICE_TYPE_MOBILE" as const, sessions: "356" },
      ],
    };
    expect(deviceSessions(answer)).toEqual({ desktop: 812, tablet: 0, mobile: 356, all: 1168 });
  });
  it("shows nothing before an answer, or from a server without the counts, and skips what it does not know", () => {
    expect(deviceSessions(undefined)).toEqual({});
    expect(deviceSessions({ sessions: "3" })).toEqual({});
    expect(deviceSessions({ deviceSessions: [{ deviceType: "DEVICE_TYPE_BOT", sessions: "9" }, { deviceType: "DEVICE_TYPE_MOBILE", sessions: "x" }, { deviceType: "DEVICE_TYPE_TABLET", sessions: "4" }] })).toEqual({ tablet: 4, all: 4 });
  });
});
