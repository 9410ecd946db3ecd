import { describe, expect, it } from "vitest";
import {
  activeFilterCount,
  activeFilters,
  emptyQuery,
  fromSearchParams,
  rangeTimes,
  readRange,
  validDate,
  toFilter,
  toggle,
  toSearchBody,
  toSearchParams,
  writeRange,
  type RangeParams,
  type RecordingsQuery,
} from "./filters";
import { rangeNote } from "./rangeNote";

const now = new Date("2026-11-23T12:00:00Z");

function full(): RecordingsQuery {
  return {
    range: "custom",
    from: "2026-11-01",
    to: "2026-11-07",
    minDuration: 30,
    maxDuration: 600.5,
    minActive: 5,
    maxActive: undefined,
    visitedPage: { op: "pattern", value: "https://shop.example.com/product/*" },
    entryPage: { op: "equals", value: "https://shop.example.com/" },
    exitPage: { op: "prefix", value: "https://shop.example.com/checkout" },
    minPages: 2,
    maxPages: undefined,
    devices: ["DEVICE_TYPE_MOBILE", "DEVICE_TYPE_TABLET"],
    browsers: ["Chrome", "Mobile Safari"],
    oses: ["iOS"],
    countries: ["DE", "FR"],
    referrerDomain: "google.com",
    utmSource: "newsletter",
    utmMedium: "email",
    utmCampaign: "black friday",
    userId: "user-42",
    attributes: [
      { key: "plan", value: "pro" },
      { key: "team", value: "a=b" },
    ],
    customEvent: "signup",
    clickedElement: "html>body>main>button#buy:nth-of-type(2)",
    rageClickedElement: "button#buy",
    deadClickedElement: "main>p.lead",
    hasRageClicks: true,
    hasDeadClicks: false,
    hasErrors: true,
    truncated: false,
    sort: "duration",
    ascending: true,
  };
}

describe("URL round trip", () => {
  it("keeps every condition", () => {
    const q = full();
    const back = fromSearchParams(new URLSearchParams(toSearchParams(q).toString()));
    expect(back).toEqual(q);
  });

  it("writes the keys shared links carry", () => {
    expect(toSearchParams(full()).toString()).toBe(
      "range=custom&from=2026-11-01&to=2026-11-07&dmin=30&dmax=600.5&amin=5&pmin=2&visited=pattern%3Ahttps%3A%2F%2Fshop.example.com%2Fproduct%2F*&entry=equals%3Ahttps%3A%2F%2Fshop.example.com%2F&exit=prefix%3Ahttps%3A%2F%2Fshop.example.com%2Fcheckout&device=mobile&device=tablet&browser=Chrome&browser=Mobile+Safari&os=iOS&country=DE&country=FR&ref=google.com&utm_source=newsletter&utm_medium=email&utm_campaign=black+friday&user=user-42&event=signup&clicked=html%3Ebody%3Emain%3Ebutton%23buy%3Anth-of-type%282%29&rage_on=button%23buy&dead_on=main%3Ep.lead&attr=plan%3Dpro&attr=team%3Da%3Db&rage=1&dead=0&errors=1&truncated=0&sort=duration&order=asc",
    );
  });

  it("writes nothing for the default query", () => {
    expect(toSearchParams(emptyQuery()).toString()).toBe("");
    expect(fromSearchParams(new URLSearchParams(""))).toEqual(emptyQuery());
  });

  it("ignores junk instead of failing", () => {
    const q = fromSearchParams(
      new URLSearchParams("range=forever&dmin=-3&dmax=abc&device=toaster&visited=regex:.*&rage=maybe&sort=random&attr=novalue"),
    );
    expect(q).toEqual(emptyQuery());
  });

  it("counts active conditions", () => {
    expect(activeFilterCount(emptyQuery())).toBe(0);
    expect(activeFilterCount({ ...emptyQuery(), devices: ["DEVICE_TYPE_MOBILE"], hasRageClicks: true })).toBe(2);
    expect(activeFilterCount({ ...emptyQuery(), hasErrors: false })).toBe(1);
  });
});

describe("active filter chips", () => {
  // Every condition the query can hold, the maxima and feedback too.
  const every = (): RecordingsQuery => ({ ...full(), maxActive: 100, maxPages: 9, hasFeedback: true, feedbackRatingMax: 2 });

  it("shows one chip per condition, and removing chips one by one leaves only the sort in the link", () => {
    let q = every();
    const n = activeFilters(q).length;
    // 1 range, 5 yes/no, 1 rating, 2+2+1+2 facet values, 3 pages, 6 numbers, 9 texts, 2 attributes.
    expect(n).toBe(34);
    expect(activeFilterCount(q)).toBe(n);
    for (let left = n; left > 0; left--) {
      const chips = activeFilters(q);
      expect(chips).toHaveLength(left);
      q = { ...q, ...chips[0]!.clear };
    }
    // A condition without a chip would survive here, in the link and the request.
    expect([...toSearchParams(q).keys()]).toEqual(["sort", "order"]);
    expect(toFilter({ ...q, range: "all" }, now)).toEqual({});
  });

  it("removes exactly the chip's condition", () => {
    const q = every();
    const chips = activeFilters(q);
    expect(new Set(chips.map((c) => c.id)).size).toBe(chips.length);
    for (const c of chips) {
      const after = activeFilters({ ...q, ...c.clear }).map((x) => x.id);
      expect(after).toEqual(chips.filter((x) => x.id !== c.id).map((x) => x.id));
    }
  });

  it("says what a heatmap's link set", () => {
    const q = fromSearchParams(new URLSearchParams("visited=pattern:https://a.example/p/*&dead_on=a#pricing&device=mobile&range=7d"));
    expect(activeFilters(q).map((c) => (c.value ? `${c.name} ${c.value}` : c.name))).toEqual([
      "Date Last 7 days",
      "Device Mobile",
      "Visited page matches pattern https://a.example/p/*",
      "Dead-clicked a#pricing",
    ]);
  });

  it("names yes/no conditions both ways, countries by name and a custom range by its dates in order", () => {
    const q: RecordingsQuery = { ...emptyQuery(), hasRageClicks: false, hasErrors: true, countries: ["DE"], range: "custom", from: "2026-11-07", to: "2026-11-01" };
    expect(activeFilters(q).map((c) => (c.value ? `${c.name} ${c.value}` : c.name))).toEqual([
      "Date 2026-11-01 to 2026-11-07",
      "No rage clicks",
      "Errors",
      "Country Germany",
    ]);
    expect(activeFilters({ ...emptyQuery(), range: "custom", to: "2026-11-07" })[0]!.value).toBe("until 2026-11-07");
  });
});

describe("toggle", () => {
  it("removes a value that is there and appends one that is not, leaving the list as it was", () => {
    const list = ["a", "b", "c"];
    expect(toggle(list, "b")).toEqual(["a", "c"]);
    expect(toggle(list, "d")).toEqual(["a", "b", "c", "d"]);
    expect(list).toEqual(["a", "b", "c"]);
  });
});

describe("date range parameters", () => {
  const presets = [{ key: "7d" }, { key: "30d" }, { key: "custom" }] as const;
  type Key = (typeof presets)[number]["key"];
  const read = (search: string) => {
    const q: RangeParams<Key> = { range: "30d" };
    readRange(new URLSearchParams(search), presets, q);
    return q;
  };

  it("reads a preset, and dates only for a custom range and only when they exist", () => {
    expect(read("range=7d&from=2026-11-01&to=2026-11-07")).toEqual({ range: "7d" });
    expect(read("range=custom&from=2026-11-01&to=2026-11-07")).toEqual({ range: "custom", from: "2026-11-01", to: "2026-11-07" });
    expect(read("range=custom")).toEqual({ range: "custom" });
    expect(read("range=custom&from=2026-02-31&to=2026-11-07")).toEqual({ range: "custom", to: "2026-11-07" });
    // Only invalid dates: the default range, which the controls then show.
    for (const bad of ["from=2026-11-1&to=20261107", "from=2026-02-31", "to=9999-99-99", "from=0001-01-01", "from=1969-12-31"]) expect(read(`range=custom&${bad}`)).toEqual({ range: "30d" });
    expect(read("range=24h&from=2026-11-01")).toEqual({ range: "30d" });
  });

  it("validDate knows the calendar", () => {
    for (const ok of ["1970-01-01", "2024-02-29", "9999-12-31"]) expect(validDate(ok)).toBe(true);
    for (const bad of ["2023-02-29", "2026-04-31", "2026-13-01", "2026-00-10", "0001-01-01", "1969-12-31", "2026-1-01", "", undefined]) expect(validDate(bad)).toBe(false);
  });

  it("reads From after To the other way round, and says so", () => {
    const now = new Date(2026, 10, 23, 12);
    const q = { range: "custom" as const, from: "2026-11-07", to: "2026-11-01" };
    expect(rangeTimes(q, now)).toEqual({ start: new Date(2026, 10, 1).toISOString(), end: new Date(2026, 10, 8).toISOString() });
    expect(rangeNote(q, now)).toEqual({ text: "From is after To: the range read is 2026-11-01 to 2026-11-07.", blocking: false });
    expect(rangeNote({ ...q, from: "2026-11-01", to: "2026-11-07" }, now)).toBeUndefined();
  });

  it("names the limit of a range too long, up to now when To is empty", () => {
    const now = new Date(2026, 10, 23, 12);
    expect(rangeNote({ range: "custom", from: "2019-11-23" }, now, 400)).toEqual({ text: expect.stringMatching(/^This range is 2,558 days; at most 400 days/), blocking: true });
    expect(rangeNote({ range: "custom", from: "2019-11-23" }, now)).toBeUndefined();
    expect(rangeNote({ range: "custom", from: "2025-10-20", to: "2026-11-23" }, now, 400)).toBeUndefined();
    expect(rangeNote({ range: "custom", from: "2026-11-23", to: "2025-10-19" }, now, 400)?.blocking).toBe(true);
    expect(rangeNote({ range: "30d" }, now, 1)).toBeUndefined();
  });

  it("writes the same, leaving the default range out", () => {
    const write = (q: RangeParams<Key>, def: Key) => {
      const p = new URLSearchParams();
      writeRange(p, q, def);
      return p.toString();
    };
    expect(write({ range: "30d", from: "2026-11-01" }, "30d")).toBe("");
    expect(write({ range: "7d" }, "30d")).toBe("range=7d");
    expect(write({ range: "custom", from: "2026-11-01", to: "2026-11-07" }, "30d")).toBe("range=custom&from=2026-11-01&to=2026-11-07");
    expect(write({ range: "custom", to: "2026-11-07" }, "custom")).toBe("to=2026-11-07");
  });
});

describe("SessionFilter mapping", () => {
  it("maps every condition onto the request", () => {
    const f = toFilter(full(), now);
    expect(f).toEqual({
      startTime: {
        start: new Date(2026, 10, 1).toISOString(),
        end: new Date(2026, 10, 8).toISOString(),
      },
      duration: { min: "30s", max: "600.5s" },
      activeDuration: { min: "5s" },
      visitedPage: { operator: "OPERATOR_PATTERN", value: "https://shop.example.com/product/*" },
      entryPage: { operator: "OPERATOR_EQUALS", value: "https://shop.example.com/" },
      exitPage: { operator: "OPERATOR_PREFIX", value: "https://shop.example.com/checkout" },
      pageCount: { min: "2", max: "0" },
      deviceTypes: ["DEVICE_TYPE_MOBILE", "DEVICE_TYPE_TABLET"],
      browsers: ["Chrome", "Mobile Safari"],
      oses: ["iOS"],
      countries: ["DE", "FR"],
      referrerDomain: "google.com",
      utmSource: "newsletter",
      utmMedium: "email",
      utmCampaign: "black friday",
      userId: "user-42",
      userAttributes: [
        { key: "plan", value: "pro" },
        { key: "team", value: "a=b" },
      ],
      customEvent: "signup",
      clickedElement: "html>body>main>button#buy:nth-of-type(2)",
      rageClickedElement: "button#buy",
      deadClickedElement: "main>p.lead",
      hasRageClicks: true,
      hasDeadClicks: false,
      hasErrors: true,
      truncated: false,
    });
  });

  it("reads a heatmap's link: a page pattern and a clicked element", () => {
    const q = fromSearchParams(new URLSearchParams("visited=pattern:https://a.example/p/*&clicked=html>body>a:nth-of-type(2)&device=mobile"));
    expect(toFilter({ ...q, range: "all" }, now)).toEqual({
      visitedPage: { operator: "OPERATOR_PATTERN", value: "https://a.example/p/*" },
      clickedElement: "html>body>a:nth-of-type(2)",
      deviceTypes: ["DEVICE_TYPE_MOBILE"],
    });
    expect(activeFilterCount(q)).toBe(3);
  });

  it("sends an empty filter and relative ranges from now", () => {
    expect(toFilter({ ...emptyQuery(), range: "all" }, now)).toEqual({});
    expect(toFilter({ ...emptyQuery(), range: "24h" }, now)).toEqual({
      startTime: { start: "2026-11-22T12:00:00.000Z" },
    });
  });

  it("keeps a false tri-state (\"no rage clicks\") distinct from unset", () => {
    const f = toFilter({ ...emptyQuery(), range: "all", hasRageClicks: false }, now);
    expect(f).toEqual({ hasRageClicks: false });
    expect(JSON.stringify(f)).toBe('{"hasRageClicks":false}');
  });

  it("builds the search body with sort, paging and facets on the first page only", () => {
    const first = toSearchBody({ ...emptyQuery(), range: "all" }, { now, pageSize: 50 });
    expect(first).toEqual({
      filter: {},
      sort: "SORT_FIELD_START_TIME",
      ascending: false,
      pageSize: 50,
      facets: [
        "FACET_FIELD_DEVICE_TYPE",
        "FACET_FIELD_BROWSER",
        "FACET_FIELD_OS",
        "FACET_FIELD_COUNTRY",
        "FACET_FIELD_PAGE",
      ],
    });
    const next = toSearchBody({ ...full() }, { now, pageSize: 50, pageToken: "tok" });
    expect(next.pageToken).toBe("tok");
    expect(next.facets).toBeUndefined();
    expect(next.sort).toBe("SORT_FIELD_DURATION");
    expect(next.ascending).toBe(true);
  });
});
